/**
 * A server binary a test starts (named, pdns_server): its output kept for failure messages, its
 * exit noticed, killed when the test process exits without cleaning up, and stop() that ends it
 * (SIGTERM, then SIGKILL after a grace; or SIGKILL at once) and removes its directory.
 * `ready` waits until it serves; if it never does, the process is stopped and the error carries
 * the server's output.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';

export interface ServerProcess {
  logs(): string;
  stop(): Promise<void>;
}

export async function startServerProcess(opts: {
  /** name in messages: "named exited (code 1, signal null)" */
  name: string;
  command: string;
  args: string[];
  /** removed on stop */
  dir: string;
  /** SIGTERM with this grace before SIGKILL; 0 = SIGKILL at once */
  termGraceMs: number;
  ready: (exited: () => string | undefined) => Promise<void>;
}): Promise<ServerProcess> {
  let output = '';
  let exited: string | undefined;
  const child: ChildProcess = spawn(opts.command, opts.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `${opts.name} exited (code ${code}, signal ${signal})`;
      resolve();
    }),
  );
  child.once('error', (error) => (exited = `${opts.name} failed to start: ${error.message}`));
  const killOnExit = () => child.kill('SIGKILL');
  // If the test process dies without running afterAll, take the server down with it.
  process.once('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    if (!exited && child.pid !== undefined) {
      child.kill(opts.termGraceMs > 0 ? 'SIGTERM' : 'SIGKILL');
      const killTimer =
        opts.termGraceMs > 0
          ? setTimeout(() => !exited && child.kill('SIGKILL'), opts.termGraceMs)
          : undefined;
      await exit;
      clearTimeout(killTimer);
    }
    await rm(opts.dir, { recursive: true, force: true });
  };
  try {
    await opts.ready(() => exited);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- ${opts.name} output ---\n${output}`);
  }
  return { logs: () => output, stop };
}
