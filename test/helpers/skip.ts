import { spawnSync } from 'node:child_process';
/**
 * Skipping with a reason the default reporter shows: the reason goes to
 * stderr (vitest prints it under the file's name), since the names of
 * skipped tests are not listed unless a test fails.
 */
const said = new Set<string>();

/** Says (once) that `what` is skipped and why, when `why` is a reason; returns whether it is. */
export function skipping(why: string | false | undefined | null, what: string): boolean {
  if (!why) return false;
  const line = `skipped: ${what}: ${why}`;
  if (!said.has(line)) {
    said.add(line);
    console.warn(line);
  }
  return true;
}

/** The reason root-only tests skip here, or undefined as root. */
export const notRoot: string | undefined = process.getuid?.() === 0 ? undefined : 'needs root (CI runs it as root)';

/** The reason tshark-oracle tests skip here, or undefined when tshark runs. */
export const tsharkMissing: string | undefined =
  spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0 ? undefined : 'tshark is not installed (apt-get install tshark)';
