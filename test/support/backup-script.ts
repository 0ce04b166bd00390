import { GetObjectCommand, ListObjectsV2Command, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { manifestSchema, type BackupManifest } from '../../contracts/manifest';
import { MOTO_REGION, type MotoServer } from './moto';
import { run } from './processes';

export const INSTANCE_SCRIPTS_DIR = resolve(__dirname, '../../scripts/instance');
export const BACKUP_SCRIPT = join(INSTANCE_SCRIPTS_DIR, 'backup.sh');
/** Where the backup script keeps its state in tests: one directory per test process. */
const TEST_STATE_DIR = join(tmpdir(), `backup-kit-state-${process.pid}`);

/** `env` with the script's state (the AWS CLI probe it remembers) out of the machine's /var/lib, unless it names a place. */
export function withScriptState(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { BACKUP_KIT_STATE_DIR: TEST_STATE_DIR, ...env };
}

/** The `BACKUP_RESULT {json}` line the script prints last on success. */
export interface BackupResult {
  target: string;
  tier: string;
  kind: string;
  bucket: string;
  key: string;
  bytes: number;
  sha256: string;
  durationSeconds: number;
  [field: string]: unknown;
}

export interface BackupRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Parsed from the last stdout line when it is a BACKUP_RESULT line. */
  result?: BackupResult;
}

export function parseBackupResult(stdout: string): BackupResult | undefined {
  const last = stdout.trimEnd().split('\n').pop() ?? '';
  const match = /^BACKUP_RESULT (\{.*\})$/.exec(last);
  return match?.[1] ? (JSON.parse(match[1]) as BackupResult) : undefined;
}

/**
 * Runs `bash scripts/instance/backup.sh` with `env` (asynchronously, so that servers living in
 * the test process, such as a fake instance metadata service, keep answering).
 */
export async function runBackupScript(env: NodeJS.ProcessEnv, script = BACKUP_SCRIPT): Promise<BackupRun> {
  const withState = withScriptState(env);
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [script], { env: withState, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolvePromise({ status, stdout, stderr, result: parseBackupResult(stdout) }));
  });
}

/**
 * Environment for one backup run against moto: the AWS CLI settings plus the `BK_*` inputs.
 * Instance metadata is off unless a test turns it on (off EC2 it would be a network call).
 */
export function backupEnv(moto: MotoServer, inputs: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env = moto.env({ AWS_EC2_METADATA_DISABLED: 'true', BK_INSTANCE_ID: 'i-0123456789abcdef0', BK_RETENTION_DAYS: '30', BK_TIER: 'daily' });
  for (const name of Object.keys(env)) {
    if (name.startsWith('BK_') && !['BK_INSTANCE_ID', 'BK_RETENTION_DAYS', 'BK_TIER'].includes(name)) delete env[name];
  }
  for (const [name, value] of Object.entries(inputs)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

async function bodyOf(moto: MotoServer, bucket: string, key: string): Promise<Buffer> {
  const object = await moto.s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

export interface StoredBackup {
  manifest: BackupManifest;
  /** The stored (compressed) object. */
  object: Buffer;
  /** The object gunzipped: the dump itself. */
  dump: Buffer;
}

/** Downloads a backup and its manifest, checking the manifest's schema, size and SHA-256. */
export async function fetchBackup(moto: MotoServer, bucket: string, key: string): Promise<StoredBackup> {
  const manifest = manifestSchema.parse(JSON.parse((await bodyOf(moto, bucket, `${key}.manifest.json`)).toString('utf8')));
  const object = await bodyOf(moto, bucket, key);
  if (object.length !== manifest.bytes) throw new Error(`object has ${object.length} bytes, manifest says ${manifest.bytes}`);
  const sha256 = createHash('sha256').update(object).digest('hex');
  if (sha256 !== manifest.sha256) throw new Error(`object sha256 ${sha256}, manifest says ${manifest.sha256}`);
  return { manifest, object, dump: gunzipSync(object) };
}

export async function listKeys(moto: MotoServer, bucket: string): Promise<string[]> {
  const listed = await moto.s3().send(new ListObjectsV2Command({ Bucket: bucket }));
  return (listed.Contents ?? []).map((object) => object.Key ?? '');
}

export async function listIncompleteUploads(moto: MotoServer, bucket: string): Promise<string[]> {
  const listed = await moto.s3().send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return (listed.Uploads ?? []).map((upload) => upload.Key ?? '');
}

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export async function putSecureStringParameter(moto: MotoServer, name: string, value: string): Promise<void> {
  const ssm = new SSMClient({ endpoint: moto.endpoint, region: MOTO_REGION, credentials });
  await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'SecureString' }));
}

/** A Secrets Manager secret (through the AWS CLI: the SDK's Secrets Manager client is not a dependency). */
export function createSecret(moto: MotoServer, name: string, secretString: string): void {
  run('aws', ['secretsmanager', 'create-secret', '--name', name, '--secret-string', secretString], { env: moto.env() });
}

/** A password unique to one test, with the characters that break naive quoting. */
export function trickyPassword(): string {
  return `pw:${Math.random().toString(36).slice(2, 10)} "q" \\b#'$x`;
}

/**
 * Watches every process's command line and environment while `during` runs, and returns those
 * that contained `secret`: a password must never be visible to other users of the instance.
 */
export async function processesExposing<T>(secret: string, during: () => Promise<T>): Promise<{ value: T; exposed: string[] }> {
  const exposed = new Set<string>();
  let watching = true;
  const scan = (): void => {
    for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
      for (const file of ['cmdline', 'environ']) {
        try {
          const text = readFileSync(`/proc/${pid}/${file}`).toString('utf8');
          if (text.includes(secret)) exposed.add(`${pid} ${file}: ${readFileSync(`/proc/${pid}/cmdline`).toString('utf8').replace(/\0/g, ' ')}`);
        } catch {
          // the process ended meanwhile
        }
      }
    }
  };
  const watcher = (async () => {
    while (watching) {
      scan();
      await new Promise((resolveTick) => setTimeout(resolveTick, 15));
    }
  })();
  try {
    const value = await during();
    return { value, exposed: [...exposed] };
  } finally {
    watching = false;
    await watcher;
  }
}
