import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MotoServer } from '../support/moto';
import { SERVED_MARKER, startAwsCliServer } from '../support/aws-cli-server';
import { closeStdinAndWait, removeDir, scratchDir } from '../support/processes';

/**
 * The `aws` the instance-script tests run (the AWS CLI v1 through a server of warm workers, see
 * test/support/aws-cli-server.ts) behaves as the CLI it stands for: output, exit codes, standard
 * streams, working directory, environment and signals.
 */

const realAws = process.env[SERVED_MARKER];
let moto: MotoServer;
let work: string;

beforeAll(async () => {
  moto = await MotoServer.start();
  await moto.createBackupBucket('cli-server-check');
  work = scratchDir('aws-cli-server');
});

afterAll(async () => {
  await moto?.stop();
  removeDir(work);
});

function both(args: string[], options: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const env = options.env ?? moto.env();
  const run = (command: string) => spawnSync(command, args, { env, input: options.input, cwd: options.cwd ?? work, encoding: 'utf8' });
  return { served: run('aws'), real: run(realAws ?? 'aws') };
}

describe('the aws command of the tests', () => {
  it('is the CLI server unless turned off', () => {
    const found = spawnSync('bash', ['-c', 'command -v aws'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).stdout.trim();
    if (process.env.BACKUP_KIT_PLAIN_AWS_CLI === '1') return;
    expect(realAws, 'the CLI server did not start (see the aws-cli-server warning above)').toBeDefined();
    expect(found).toMatch(/backup-kit-aws-cli-[^/]+\/aws$/);
  });

  it('prints what the CLI prints and exits as it does, on success and on a usage error', () => {
    for (const args of [['--version'], ['s3api', 'no-such-operation'], ['s3api', 'list-buckets', '--query', 'Buckets[].Name', '--output', 'text']]) {
      const { served, real } = both(args);
      expect(served.status, args.join(' ')).toBe(real.status);
      expect(served.stdout).toBe(real.stdout);
      expect(served.stderr.split('\n').slice(-3)).toEqual(real.stderr.split('\n').slice(-3));
    }
  });

  it('reads stdin, writes into its working directory and honours the caller environment', () => {
    const body = 'line 1\nline 2\n';
    expect(spawnSync('aws', ['s3', 'cp', '-', 's3://cli-server-check/from-stdin.txt', '--checksum-algorithm', 'SHA256'], { env: moto.env(), input: body, encoding: 'utf8' }).status).toBe(0);
    expect(spawnSync('aws', ['s3', 'cp', 's3://cli-server-check/from-stdin.txt', 'copy.txt'], { env: moto.env(), cwd: work, encoding: 'utf8' }).status).toBe(0);
    expect(readFileSync(join(work, 'copy.txt'), 'utf8')).toBe(body);
    const config = join(work, 'config');
    writeFileSync(config, '[default]\nregion = ap-southeast-2\n');
    const { served, real } = both(['configure', 'get', 'region'], { env: { ...moto.env(), AWS_CONFIG_FILE: config } });
    expect(served.stdout.trim()).toBe('ap-southeast-2');
    expect(served.stdout).toBe(real.stdout);
  });

  it('ends by the signal the caller sends, as the CLI does', async () => {
    const stopped = async (command: string): Promise<NodeJS.Signals | null> => {
      // A copy from a stdin that never ends: it waits until signalled.
      const child = spawn(command, ['s3', 'cp', '-', 's3://cli-server-check/never.txt'], { env: moto.env(), stdio: ['pipe', 'ignore', 'ignore'] });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      child.kill('SIGTERM');
      return new Promise((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    };
    expect(await stopped(realAws ?? 'aws')).toBe('SIGTERM');
    expect(await stopped('aws')).toBe('SIGTERM');
  });

  it('takes its CLI along when killed: the copy it had started never completes', async () => {
    // GIVEN a copy from stdin under way
    const child = spawn('aws', ['s3', 'cp', '-', 's3://cli-server-check/orphan.txt'], { env: moto.env(), stdio: ['pipe', 'ignore', 'ignore'] });
    child.stdin.write('partial\n');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // WHEN the caller is killed outright and its input then ends (a surviving CLI would upload now)
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    child.stdin.end();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    // THEN nothing was stored
    const listed = spawnSync('aws', ['s3api', 'list-objects-v2', '--bucket', 'cli-server-check', '--query', 'Contents[].Key', '--output', 'text'], { env: moto.env(), encoding: 'utf8' });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).not.toContain('orphan.txt');
  });
});

describe('its workers', () => {
  // A server of this file's own, so that no other file's calls reach its workers.
  let server: ChildProcess | undefined;
  let shim: string;

  beforeAll(async () => {
    const dir = join(work, 'own-server');
    mkdirSync(dir);
    shim = join(dir, 'aws');
    server = realAws ? await startAwsCliServer(realAws, dir) : undefined;
  });

  afterAll(async () => {
    if (server) await closeStdinAndWait(server);
  });

  const workers = (): string[] => readFileSync(`/proc/${server!.pid}/task/${server!.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  const call = (args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}) =>
    spawnSync(shim, args, { env: options.env ?? moto.env(), input: options.input, cwd: work, encoding: 'utf8' });

  it('run calls one after another in one process, each with only its own environment, input and logging', () => {
    if (!server) return expect(process.env.BACKUP_KIT_PLAIN_AWS_CLI).toBe('1');
    // GIVEN a call with debug logging and a region of its own, and one that reads its stdin
    const regionLine = (listed: string) => listed.split('\n').find((line) => /^\s*region\s/.test(line))?.trim().split(/\s+/);
    const first = call(['--debug', 'configure', 'list'], { env: { ...moto.env(), AWS_DEFAULT_REGION: 'ap-southeast-2' } });
    expect(regionLine(first.stdout)).toEqual(['region', 'ap-southeast-2', 'env', 'AWS_DEFAULT_REGION']);
    expect(first.stderr).toMatch(/ - DEBUG - /);
    expect(call(['s3', 'cp', '-', 's3://cli-server-check/first.txt'], { input: 'first input\n' }).status).toBe(0);
    const [worker] = workers();

    // WHEN the next calls come, without either
    const second = call(['configure', 'list'], { env: { ...moto.env(), AWS_DEFAULT_REGION: 'eu-north-1' } });
    const copied = call(['s3', 'cp', '-', 's3://cli-server-check/second.txt'], { input: 'second input\n' });
    const read = call(['s3', 'cp', 's3://cli-server-check/second.txt', '-']);

    // THEN the same worker ran them, and nothing of the earlier calls reached them
    expect(workers()).toEqual([worker]);
    expect(regionLine(second.stdout)).toEqual(['region', 'eu-north-1', 'env', 'AWS_DEFAULT_REGION']);
    expect(second.stderr).toBe('');
    expect(copied.status, copied.stderr).toBe(0);
    expect(read.stdout).toBe('second input\n');
    expect(read.stderr).toBe('');
  });

  it('take the same request from the compiled shim and from the Python one that stands in without a compiler', () => {
    if (!server) return expect(process.env.BACKUP_KIT_PLAIN_AWS_CLI).toBe('1');
    const compiled = readFileSync(shim).subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    expect(compiled || spawnSync('bash', ['-c', 'command -v cc'], { encoding: 'utf8' }).status !== 0, 'cc is there but the shim is not an ELF program').toBe(true);
    const python = join(dirname(shim), 'aws-python');
    const run0 = (command: string, args: string) => spawnSync('bash', ['-c', `AWS_DEFAULT_REGION=eu-north-1 exec "$0" ${args}`, command], { env: moto.env(), encoding: 'utf8' }).stdout;
    // An argument that is not UTF-8 (the byte 0xe9), the caller's environment, and output on both streams.
    for (const args of ['configure list', "s3api head-object --bucket cli-server-check --key $'caf\\xe9'", 's3 cp s3://cli-server-check/second.txt -']) {
      const run = (command: string) =>
        spawnSync('bash', ['-c', `cd ${JSON.stringify(work)} && umask 027 && AWS_DEFAULT_REGION=eu-north-1 exec "$0" ${args}`, command], { env: moto.env(), encoding: 'utf8' });
      const [fromCompiled, fromPython] = [run(shim), run(python)];
      expect(fromCompiled.status, args).toBe(fromPython.status);
      expect(fromCompiled.stdout).toBe(fromPython.stdout);
      expect(fromCompiled.stderr).toBe(fromPython.stderr);
    }
    expect(run0(shim, 'configure list')).toMatch(/region\s+eu-north-1\s+env/);
  });

  it('are not given another call after one that was signalled', async () => {
    if (!server) return expect(process.env.BACKUP_KIT_PLAIN_AWS_CLI).toBe('1');
    // GIVEN a call interrupted as a terminal's Ctrl-C would (the CLI handles SIGINT and returns)
    const child = spawn(shim, ['s3', 'cp', '-', 's3://cli-server-check/interrupted.txt'], { env: moto.env(), stdio: ['pipe', 'ignore', 'pipe'] });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const [interrupted] = workers();
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGINT');
    child.stdin.end();
    await exited;
    await new Promise((resolve) => setTimeout(resolve, 500));

    // WHEN the next call comes
    const next = call(['--version']);

    // THEN a new worker runs it
    expect(next.status, next.stderr).toBe(0);
    expect(workers()).not.toContain(interrupted);
    expect(workers()).toHaveLength(1);
  });
});
