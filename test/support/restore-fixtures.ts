import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { resolve } from 'node:path';
import { backupKey, manifestKeyFor, parseBackupKey, verdictKeyFor, type BackupKind, type BackupManifest } from '../../contracts/manifest';
import { backupVersions, firstVersion } from '../../lambda/shared/versions';
import type { Verdict } from '../../contracts/verdict';
import { INSTANCE_SCRIPTS_DIR, backupEnv, putSecureStringParameter, withScriptState } from './backup-script';
import { manifestFor, putBackup } from './backups';
import type { MotoServer } from './moto';


export interface StoredBackup {
  readonly key: string;
  readonly manifest: BackupManifest;
}

/**
 * Stores a compressed backup the way the backup script does: the object, then its manifest,
 * and (optionally) a verification verdict. For tests that need a backup of a precise shape
 * (a given time, a broken one) without running a whole backup.
 */
export async function storeBackup(
  s3: S3Client,
  options: {
    readonly bucket: string;
    readonly tier: string;
    readonly target: string;
    readonly kind: BackupKind;
    readonly body: Buffer;
    readonly at: Date;
    readonly database?: BackupManifest['database'];
    readonly files?: BackupManifest['files'];
    /** Write a verdict beside it: true passed, false failed, undefined none. */
    readonly verified?: boolean;
  },
): Promise<StoredBackup> {
  const key = backupKey(options.tier, options.target, options.kind, options.at);
  const made = { kind: options.kind, body: options.body, ...(options.database ? { database: options.database } : {}), ...(options.files ? { files: options.files } : {}) };
  const manifest = manifestFor(made, { bucket: options.bucket, key, target: options.target, tier: options.tier, finishedAt: new Date(options.at.getTime() + 60_000) });
  await putBackup(s3, options.bucket, key, options.body, manifest);
  if (options.verified !== undefined) await markVerified(s3, options.bucket, key, options.verified);
  return { key, manifest };
}

/** Puts a SecureString parameter into moto (the scripts read database passwords from one). */
export const putPassword = putSecureStringParameter;

export interface ScriptRun {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The parsed `RESTORE_RESULT` line, when printed. */
  readonly result?: Record<string, unknown>;
  /** The parsed `DRILL_RESULT` line, when printed. */
  readonly drill?: { passed: boolean; checks: { name: string; status: string; detail: string }[] } & Record<string, unknown>;
  /** The parsed `PREFLIGHT_RESULT` line (RS_MODE=check), when printed. */
  readonly preflight?: { ready: boolean; checks: { name: string; status: string; detail: string }[] } & Record<string, unknown>;
}

function lineJson(stdout: string, prefix: string): Record<string, unknown> | undefined {
  const line = stdout.split('\n').filter((candidate) => candidate.startsWith(`${prefix} `)).at(-1);
  return line === undefined ? undefined : (JSON.parse(line.slice(prefix.length + 1)) as Record<string, unknown>);
}

export function parseScriptRun(status: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string): ScriptRun {
  const drill = lineJson(stdout, 'DRILL_RESULT') as ScriptRun['drill'];
  const result = lineJson(stdout, 'RESTORE_RESULT');
  const preflight = lineJson(stdout, 'PREFLIGHT_RESULT') as ScriptRun['preflight'];
  return { status, signal, stdout, stderr, ...(result ? { result } : {}), ...(drill ? { drill } : {}), ...(preflight ? { preflight } : {}) };
}

/** Runs an instance script (`restore.sh`, `backup.sh`) synchronously with the given environment. */
export function runInstanceScript(script: 'restore.sh' | 'backup.sh', env: NodeJS.ProcessEnv, dir = INSTANCE_SCRIPTS_DIR): ScriptRun {
  const result = spawnSync('bash', [resolve(dir, script)], { env: withScriptState(env), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return parseScriptRun(result.status, result.signal, result.stdout, result.stderr);
}

/**
 * Starts restore.sh and SIGKILLs its whole process group once `when` says so (polled every
 * `pollMs`: short for a cheap check, longer for one that starts a process), to show that a
 * restore stopped at the worst moment leaves live data alone.
 */
export async function killRestoreWhen(env: NodeJS.ProcessEnv, when: () => boolean, options: { timeoutMs?: number; pollMs?: number } = {}): Promise<ScriptRun & { killed: boolean }> {
  const { timeoutMs = 120_000, pollMs = 50 } = options;
  const child = spawn('bash', [resolve(INSTANCE_SCRIPTS_DIR, 'restore.sh')], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let killed = false;
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolveExit) => child.on('exit', (code, signal) => resolveExit([code, signal])));
  const deadline = Date.now() + timeoutMs;
  const poll = async (): Promise<void> => {
    while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
      if (when()) {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
        killed = true;
        return;
      }
      await new Promise((resolveWait) => setTimeout(resolveWait, pollMs));
    }
  };
  await poll();
  const [status, signal] = await exited;
  return { ...parseScriptRun(status, signal, stdout, stderr), killed };
}

/** The daily tier's retention in the local restores and drills: what backup.sh locks for, and what the local verifier requires. */
export const FIXTURE_RETENTION_DAYS = 7;

/** Environment for backup.sh and restore.sh against moto: the backup harness's, with the bucket key and the fixtures' retention. */
export function backupScriptEnv(moto: MotoServer, keyArn: string, inputs: Record<string, string>): NodeJS.ProcessEnv {
  return backupEnv(moto, { BK_RETENTION_DAYS: String(FIXTURE_RETENTION_DAYS), BK_KMS_KEY_ID: keyArn, ...inputs });
}

/** Takes a backup with the real backup.sh; throws with its stderr when it fails. */
export function backupWithScript(env: NodeJS.ProcessEnv): { key: string; bytes: number } {
  const run = runInstanceScript('backup.sh', env);
  const line = run.stdout.split('\n').filter((candidate) => candidate.startsWith('BACKUP_RESULT ')).at(-1);
  if (run.status !== 0 || line === undefined) throw new Error(`backup.sh exited ${run.status}: ${run.stderr}`);
  const result = JSON.parse(line.slice('BACKUP_RESULT '.length)) as { key: string; bytes: number };
  return { key: result.key, bytes: result.bytes };
}

/**
 * backup.sh's backups of one source, one per state of it: asked again while `stateOf()` (what the
 * tests compare: tables and their rows) and the environment are unchanged, it returns the backup
 * already made, of the same data, instead of running the script again.
 */
export function scriptBackupPerState(stateOf: () => unknown): (env: NodeJS.ProcessEnv) => { key: string; bytes: number } {
  let last: { state: string; backup: { key: string; bytes: number } } | undefined;
  return (env) => {
    const state = JSON.stringify([stateOf(), env]);
    if (last?.state !== state) last = { state, backup: backupWithScript(env) };
    return last.backup;
  };
}

/**
 * Writes a verification verdict of a backup as the verify job does (`verdicts/<key>/<time>.json`),
 * pinning the first version of the backup and of its manifest, and the manifest's SHA-256.
 */
export async function markVerified(s3: S3Client, bucket: string, key: string, passed: boolean): Promise<void> {
  const versions = await backupVersions(s3, bucket, key);
  const manifestVersionId = firstVersion(versions.manifest)?.versionId;
  const manifest = manifestVersionId
    ? (JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: manifestKeyFor(key), VersionId: manifestVersionId }))).Body!.transformToString()) as { sha256?: string })
    : {};
  const parsed = parseBackupKey(key);
  const verifiedAt = new Date();
  const verdict: Verdict = {
    verdictVersion: 2,
    bucket,
    key,
    ...(firstVersion(versions.backup) ? { versionId: firstVersion(versions.backup)?.versionId } : {}),
    ...(manifestVersionId ? { manifestVersionId } : {}),
    ...(manifest.sha256 ? { sha256: manifest.sha256 } : {}),
    target: parsed?.target ?? 'unknown',
    tier: parsed?.tier ?? 'unknown',
    kind: parsed?.kind ?? 'unknown',
    verifiedAt: verifiedAt.toISOString(),
    backupAt: (parsed?.at ?? verifiedAt).toISOString(),
    passed,
    checks: [],
    reasons: passed ? [] : ['test: marked failed'],
    figures: {},
  };
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: verdictKeyFor(key, verifiedAt), Body: JSON.stringify(verdict), IfNoneMatch: '*' }));
}

/**
 * A backup whose stored bytes never matched its manifest (damaged before or during upload): a copy
 * of `key` under a new key of the same target, its object `corrupt`ed and its manifest the
 * original's (or `editManifest`ed). Each is the first and only version of its key, as a backup
 * script would leave it.
 */
export async function corruptCopyOf(
  s3: S3Client,
  bucket: string,
  key: string,
  corrupt: (body: Buffer) => Buffer,
  editManifest: (manifest: BackupManifest) => BackupManifest = (manifest) => manifest,
): Promise<string> {
  const parsed = parseBackupKey(key);
  if (!parsed) throw new Error(`not a backup key: ${key}`);
  const copyKey = backupKey(parsed.tier, parsed.target, parsed.kind, new Date(parsed.at.getTime() - 3_600_000));
  const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
  const manifest = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: manifestKeyFor(key) }))).Body!.transformToString()) as BackupManifest;
  await putBackup(s3, bucket, copyKey, corrupt(Buffer.from(body)), editManifest({ ...manifest, key: copyKey }));
  return copyKey;
}

/**
 * A backup changed before its manifest was written (between the script's read and the upload): a
 * copy of `key` under a new key of the same target whose dump is `change`d, its manifest's bytes
 * and SHA-256 made over the changed object, and its content digest the original's (the dump the
 * script read). Only the content digest can tell.
 */
export async function changedContentCopyOf(s3: S3Client, bucket: string, key: string, change: (dump: Buffer) => Buffer): Promise<string> {
  const parsed = parseBackupKey(key);
  if (!parsed) throw new Error(`not a backup key: ${key}`);
  const copyKey = backupKey(parsed.tier, parsed.target, parsed.kind, new Date(parsed.at.getTime() - 7_200_000));
  const original = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
  const manifest = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: manifestKeyFor(key) }))).Body!.transformToString()) as BackupManifest;
  if (!manifest.content) throw new Error(`${key} has no content digest`);
  const body = gzipSync(change(gunzipSync(original)));
  await putBackup(s3, bucket, copyKey, body, { ...manifest, key: copyKey, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  return copyKey;
}

/** SHA-256 of a file. */
export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
