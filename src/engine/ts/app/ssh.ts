/** SSH (docs/applications.md): the client's (fwd) and server's (rev) banners. */
import { APP_SSH, DONE, MAYBE, MORE, S_SSH_CLIENT, S_SSH_SERVER, type AppFlowInfo, type Status } from './apps';

const isSsh = (b: Uint8Array, n: number) => n >= 4 && b[0] === 0x53 && b[1] === 0x53 && b[2] === 0x48 && b[3] === 0x2d;

export function classifySsh(b: Uint8Array, n: number): number {
  if (isSsh(b, n)) return APP_SSH;
  for (let i = 0; i < n; i++) if (b[i] !== 'SSH-'.charCodeAt(i)) return 0;
  return MAYBE;
}

export function dissectSsh(f: AppFlowInfo, fwd: boolean, b: Uint8Array, n: number): Status {
  if (!isSsh(b, n)) return DONE;
  const scan = Math.min(n, 256);
  let end = b.subarray(0, scan).indexOf(0x0a);
  if (end < 0) {
    if (n < 256) return MORE;
    end = 255;
  } else if (end > 0 && b[end - 1] === 0x0d) end--;
  f.area.string(fwd ? S_SSH_CLIENT : S_SSH_SERVER, b, 0, end);
  return DONE;
}
