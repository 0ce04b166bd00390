import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A PATH (one directory of links to every command on the current PATH) without the `missing`
 * commands: an instance where they are not installed.
 */
export function pathWithout(missing: readonly string[], dir: string): string {
  const bin = join(dir, `bin-without-${missing.join('-')}`);
  mkdirSync(bin, { recursive: true });
  for (const entry of (process.env.PATH ?? '').split(delimiter)) {
    if (!existsSync(entry)) continue;
    for (const name of readdirSync(entry)) {
      if (!missing.includes(name) && !existsSync(join(bin, name))) symlinkSync(join(entry, name), join(bin, name));
    }
  }
  return bin;
}

export function scratchDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `backup-kit-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Polls `check` until it is true or `timeoutMs` passes. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Runs a command synchronously; throws with its stderr when it fails. */
export function run(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string | Buffer; cwd?: string } = {}): string {
  const result = spawnSync(command, args, {
    env: options.env ?? process.env,
    input: options.input,
    cwd: options.cwd,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  }
  return result.stdout;
}

/** Resolves once `child` prints "ready" as its first line of stdout; rejects if it says anything else or exits first. */
export async function readyLine(child: ChildProcess, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${what} exited ${code} before it was ready`)));
    createInterface({ input: child.stdout! }).once('line', (line) => (line === 'ready' ? resolve() : reject(new Error(`${what}: ${line}`))));
  });
  child.removeAllListeners('exit');
}

/** Ends a server that serves until its stdin closes, and waits for it to go. */
export async function closeStdinAndWait(child: ChildProcess): Promise<void> {
  child.stdin?.end();
  await new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

export function startDetached(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.resume();
  return child;
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
  });
}

/** The command lines of the processes running now (arguments joined by NULs, as /proc gives them). */
export function commandLines(): string[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        return [readFileSync(`/proc/${pid}/cmdline`, 'utf8')];
      } catch {
        return [];
      }
    });
}
