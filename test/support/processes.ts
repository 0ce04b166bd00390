import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * A free loopback port for a test server. Not bind(0)'s: that draws from the kernel's ephemeral
 * range, as every outgoing connection does for its local port, so a port found free there can be
 * taken (by a client, or another worker's bind(0)) before the server binds it; the server then
 * fails, and its caller talks to whoever holds the port (another file's moto answers as well as its
 * own). These come from below that range, from a block per vitest worker slot (VITEST_POOL_ID: no
 * two workers running at once share one), in turn, each checked free by listening on it first.
 */
export async function freePort(): Promise<number> {
  const slot = Number(process.env.VITEST_POOL_ID ?? 0); // 0 outside vitest: the local drill, benchmarks
  const first = FIRST_SERVER_PORT + slot * SERVER_PORTS_PER_SLOT;
  if (!Number.isInteger(slot) || first + SERVER_PORTS_PER_SLOT > ephemeralPortsFrom()) return kernelChosenPort();
  for (let tried = 0; tried < SERVER_PORTS_PER_SLOT; tried += 1) {
    const port = first + (serverPortsHandedOut++ % SERVER_PORTS_PER_SLOT);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${first}-${first + SERVER_PORTS_PER_SLOT - 1}`);
}

const FIRST_SERVER_PORT = 20_000;
const SERVER_PORTS_PER_SLOT = 500;
let serverPortsHandedOut = 0;

/** The first port of the kernel's ephemeral range (32768 unless configured otherwise). */
function ephemeralPortsFrom(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32_768;
  } catch {
    return 32_768;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function kernelChosenPort(): Promise<number> {
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
