/**
 * stdout and stderr for the commands. A reader that goes away (`| head`)
 * closes the pipe: the next write fails with EPIPE, which Node reports as an
 * 'error' event that would end the process with a stack trace. Unix tools
 * stop quietly instead, and so do we: output is marked closed, commands that
 * produce it (read, capture) stop, and the exit code stays 0.
 */

let closed = false;
const onClose = new Set<() => void>();

function closePipe(): void {
  if (closed) return;
  closed = true;
  for (const fn of onClose) fn();
  onClose.clear();
}

function guard(stream: NodeJS.WriteStream, isStdout: boolean): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') {
      if (isStdout) closePipe();
      return;
    }
    if (isStdout) closePipe();
    process.exitCode = 1;
  });
}

/** Installs the EPIPE handling on process.stdout and process.stderr (once). */
export function guardOutput(): void {
  if (process.stdout.listenerCount('error') === 0) guard(process.stdout, true);
  if (process.stderr.listenerCount('error') === 0) guard(process.stderr, false);
}

export const stdout = {
  /** true once the reader of stdout has gone away */
  get closed(): boolean {
    return closed;
  },
  write(text: string): void {
    if (!closed) process.stdout.write(text);
  },
  /** Calls `fn` once when stdout closes (at once if it already has); returns a function that cancels it. */
  onClose(fn: () => void): () => void {
    if (closed) {
      fn();
      return () => undefined;
    }
    onClose.add(fn);
    return () => onClose.delete(fn);
  },
};
