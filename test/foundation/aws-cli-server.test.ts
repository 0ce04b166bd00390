import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MotoServer } from '../support/moto';
import { SERVED_MARKER } from '../support/aws-cli-server';
import { removeDir, scratchDir } from '../support/processes';

/**
 * The `aws` the instance-script tests run (the AWS CLI v1 through a fork server, see
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
  it('is the fork server unless turned off', () => {
    const found = spawnSync('bash', ['-c', 'command -v aws'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).stdout.trim();
    if (process.env.BACKUP_KIT_PLAIN_AWS_CLI === '1') return;
    expect(realAws, 'the fork server did not start (see the aws-cli-server warning above)').toBeDefined();
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
