import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { Readable } from 'node:stream';
import { consoleLinks } from '../../contracts/console-links';
import { errorMessage, isAccessDenied, RequestRejectedError } from '../../contracts/errors';
import { FORMAT_BY_KIND, manifestKeyFor, manifestSchema, parseBackupKey, verdictKeyFor, type BackupManifest, type ParsedBackupKey } from '../../contracts/manifest';
import { backupVersions, firstVersion, overwrittenProblem, type BackupVersions } from '../shared/versions';
import { addCatalogMetric, publishCatalogMetrics, type Logger, type Metrics } from '../shared/powertools';
import { inspectorFor } from './formats';
import { hoursBetween, listBackups, newestVerified, type ListedBackup } from '../shared/backup-history';
import { NEXT_STEP } from './runbook';
import type { VerifySettings } from '../../contracts/verify-settings';
import { checkStream, type StreamFindings } from './stream-check';
import { checkLock } from './lock-check';
import type { CheckName, CheckResult, Verdict } from '../../contracts/verdict';
import { METRICS } from '../../contracts/metric-catalog';

export interface VerifyDeps {
  readonly s3: S3Client;
  /** Client in the DR region, for HeadObject on the replica. */
  readonly replicaS3: S3Client;
  readonly sns: SNSClient;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly bucket: string;
  readonly replicaBucket: string;
  /** Key the verdict is encrypted with (the backup key). */
  readonly backupKeyArn: string;
  readonly alertTopicArn: string;
  readonly region: string;
  readonly settings: VerifySettings;
  readonly now?: () => Date;
  /** Epoch ms by which the streaming pass must stop to leave time for the verdict. */
  readonly deadline?: () => number;
}

/** Storage classes whose objects cannot be read without a restore request. */
const ARCHIVED_CLASSES = new Set(['GLACIER', 'DEEP_ARCHIVE']);

/**
 * Verifies one backup object: manifest, size and SHA-256, gunzip to the end, the dump format,
 * age, size against history and the replica. Writes the verdict beside the backup, publishes the
 * metrics, and one alert per failed or warning check. Throws only for errors worth a retry
 * (throttling, network); everything about the backup itself ends up in the verdict.
 */
export async function verifyBackup(deps: VerifyDeps, key: string): Promise<Verdict> {
  const parsed = parseBackupKey(key);
  if (!parsed) {
    throw new RequestRejectedError(`'${key}' is not a backup key (<tier>/<target>/YYYY/MM/DD/<target>_<YYYYMMDDTHHMMSSZ>.<ext>)`);
  }
  const now = deps.now?.() ?? new Date();
  const checks = new Map<CheckName, CheckResult>();
  const figures: Verdict['figures'] = {};
  const record = (name: CheckName, status: CheckResult['status'], detail: string) => checks.set(name, { name, status, detail });

  // Backups are written once: the first version of the object and of the manifest is what the
  // script wrote, and the only one verified (and later restored).
  const versions = await listVersions(deps, key);
  const backupVersion = firstVersion(versions.backup)?.versionId;
  const manifestVersion = firstVersion(versions.manifest)?.versionId;
  const head = await headBackup(deps, key, backupVersion);
  const manifest = await readManifest(deps, key, parsed, manifestVersion);
  const backupAt = manifest.manifest ? new Date(manifest.manifest.finishedAt) : parsed.at;
  figures.backupAt = backupAt.toISOString();

  if (head.kind === 'missing') record('object', 'failed', head.detail);
  else record('object', 'passed', `${head.output.ContentLength ?? 0} bytes, ${head.output.StorageClass ?? 'STANDARD'}`);
  const overwritten = overwrittenProblem(versions);
  if (overwritten) record('versions', 'failed', overwritten);
  else if (versions.backup.deleteMarkers + versions.manifest.deleteMarkers > 0) record('versions', 'warning', 'a delete marker hides the backup or its manifest from readers by key; the versions are intact and restores read them by version ID');
  else record('versions', 'passed', 'the backup and its manifest were each written once');
  if (manifest.manifest) record('manifest', 'passed', `${manifestKeyFor(key)} is valid`);
  else record('manifest', 'failed', manifest.detail);
  if (head.kind === 'found') {
    const lock = checkLock(
      { mode: head.output.ObjectLockMode, retainUntil: head.output.ObjectLockRetainUntilDate, storedAt: head.output.LastModified },
      { mode: deps.settings.tierLockModes[parsed.tier], retentionDays: deps.settings.tierRetentionDays[parsed.tier], manifestRetainUntil: manifest.manifest?.retainUntil },
    );
    record('lock', lock.status, lock.detail);
  } else record('lock', 'skipped', 'the object cannot be read');

  // Content: one streaming pass.
  if (head.kind === 'found') {
    const size = head.output.ContentLength ?? 0;
    figures.bytes = size;
    const storageClass = head.output.StorageClass ?? 'STANDARD';
    const restored = /ongoing-request="false"/.test(head.output.Restore ?? '');
    if (ARCHIVED_CLASSES.has(storageClass) && !restored) {
      const why = `the object is in ${storageClass} and cannot be read without a restore request; its content was verified while it was in a readable class (see earlier verdicts)`;
      for (const name of ['integrity', 'decompression', 'format', 'content'] as const) record(name, 'skipped', why);
    } else if (size > deps.settings.maxObjectBytes) {
      const detail = `the object is ${gib(size)} GiB, above the ${gib(deps.settings.maxObjectBytes)} GiB one invocation can verify within Lambda's 15 minutes (verification.maxObjectGiB); it was not read`;
      record('integrity', 'failed', detail);
      record('decompression', 'skipped', detail);
      record('format', 'skipped', detail);
      record('content', 'skipped', detail);
    } else {
      const findings = await streamObject(deps, key, head.output, parsed, manifest.manifest);
      applyFindings(findings, manifest.manifest, size, record, figures);
    }
  } else {
    for (const name of ['integrity', 'decompression', 'format', 'content'] as const) record(name, 'skipped', 'the object cannot be read');
  }

  // History: age, size against the previous backups, newest verified backup.
  const history = await listBackups(deps.s3, deps.bucket, parsed.tier, parsed.target);
  const index = history.findIndex((backup) => backup.key === key);
  const isNewest = index >= 0 && index === history.length - 1;
  const maxAgeHours = deps.settings.tierMaxAgeHours[parsed.tier];
  const ageHours = hoursBetween(backupAt, now);
  figures.ageHours = ageHours;
  if (!isNewest) record('age', 'skipped', 'a newer backup of this target and tier exists; age is judged on the newest');
  else if (maxAgeHours === undefined) record('age', 'skipped', `tier '${parsed.tier}' has no schedule and no age limit`);
  else if (ageHours > maxAgeHours) {
    record('age', 'failed', `the newest backup is ${ageHours} h old, above the ${maxAgeHours} h limit of tier '${parsed.tier}': backups stopped arriving`);
  } else record('age', 'passed', `${ageHours} h old (limit ${maxAgeHours} h)`);

  const sizeCheck = checkSize(deps.settings.sizeAnomaly, history, index, head.kind === 'found' ? (head.output.ContentLength ?? 0) : undefined);
  const unchanged =
    sizeCheck.identicalTo !== undefined && manifest.manifest && checks.get('integrity')?.status === 'passed'
      ? await sameContentAs(deps, sizeCheck.identicalTo, manifest.manifest.sha256)
      : false;
  if (unchanged) record('size', 'passed', `unchanged: the same SHA-256 as the previous backup ${sizeCheck.identicalTo ?? ''} (the data did not change)`);
  else record('size', sizeCheck.status, sizeCheck.detail);
  Object.assign(figures, sizeCheck.figures);

  const replica = head.kind === 'found' ? await checkReplica(deps, key, head.output, now) : { status: 'skipped' as const, detail: 'the object cannot be read' };
  record('replica', replica.status, replica.detail);

  const ordered = [...checks.values()];
  const passed = ordered.every((check) => check.status !== 'failed');
  const integrity = checks.get('integrity');
  const verdict: Verdict = {
    verdictVersion: 2,
    bucket: deps.bucket,
    ...(replica.status === 'passed' ? { replicaBucket: deps.replicaBucket } : {}),
    key,
    ...(head.kind === 'found' && head.output.VersionId ? { versionId: head.output.VersionId } : {}),
    ...(manifest.manifest && manifestVersion !== undefined ? { manifestVersionId: manifestVersion } : {}),
    ...(manifest.manifest && integrity?.status === 'passed' ? { sha256: manifest.manifest.sha256 } : {}),
    target: parsed.target,
    tier: parsed.tier,
    kind: parsed.kind,
    verifiedAt: now.toISOString(),
    backupAt: backupAt.toISOString(),
    passed,
    checks: ordered,
    reasons: ordered.filter((check) => check.status === 'failed' || check.status === 'warning').map((check) => `${check.name}: ${check.detail}`),
    figures,
  };

  // The newest verified backup is this one if it passed, else the newest earlier one that did.
  const lastVerified = passed && isNewest ? verdict : await newestVerified(deps.s3, deps.bucket, history.filter((backup) => backup.key !== key));
  const hoursSinceVerified = lastVerified ? hoursBetween(new Date(lastVerified.backupAt), now) : undefined;
  figures.hoursSinceLastVerifiedBackup = hoursSinceVerified ?? null;

  await writeVerdict(deps, verdict);
  // The age alarms read the tier's largest age, which the hourly report publishes.
  publishMetrics(deps, verdict, replica.status);
  await alert(deps, verdict);
  deps.logger.info('verified backup', { key, passed, reasons: verdict.reasons, seconds: figures.seconds });
  return verdict;
}

type HeadResult = { kind: 'found'; output: HeadObjectCommandOutput } | { kind: 'missing'; detail: string };

async function listVersions(deps: VerifyDeps, key: string): Promise<BackupVersions> {
  try {
    return await backupVersions(deps.s3, deps.bucket, key);
  } catch (error) {
    if (isAccessDenied(error)) throw new RequestRejectedError(`AWS refused s3:ListBucketVersions on ${deps.bucket} (prefix ${key}): ${errorMessage(error)}`);
    throw error;
  }
}

async function headBackup(deps: VerifyDeps, key: string, versionId: string | undefined): Promise<HeadResult> {
  if (versionId === undefined) return { kind: 'missing', detail: `s3://${deps.bucket}/${key} does not exist (no version of it)` };
  try {
    return { kind: 'found', output: await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: key, VersionId: versionId })) };
  } catch (error) {
    if (isNotFound(error)) return { kind: 'missing', detail: `s3://${deps.bucket}/${key} does not exist` };
    if (isAccessDenied(error)) return { kind: 'missing', detail: `AWS refused s3:GetObject (HeadObject) on ${key}: ${errorMessage(error)}` };
    throw error;
  }
}

/** Whether the earlier backup `key` (its manifest as first written) states this SHA-256. */
async function sameContentAs(deps: VerifyDeps, key: string, sha256: string): Promise<boolean> {
  const parsed = parseBackupKey(key);
  if (!parsed) return false;
  const versions = await listVersions(deps, key);
  const previous = await readManifest(deps, key, parsed, firstVersion(versions.manifest)?.versionId);
  return previous.manifest?.sha256 === sha256;
}

async function readManifest(deps: VerifyDeps, key: string, parsed: ParsedBackupKey, versionId: string | undefined): Promise<{ manifest?: BackupManifest; detail: string }> {
  const manifestKey = manifestKeyFor(key);
  if (versionId === undefined) return { detail: `no manifest ${manifestKey}: the backup is incomplete (the script writes it last, only on success)` };
  let text: string;
  try {
    const response = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: manifestKey, VersionId: versionId }));
    text = (await response.Body?.transformToString()) ?? '';
  } catch (error) {
    if (isNotFound(error)) return { detail: `no manifest ${manifestKey}: the backup is incomplete (the script writes it last, only on success)` };
    if (isAccessDenied(error)) return { detail: `AWS refused s3:GetObject on ${manifestKey}: ${errorMessage(error)}` };
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { detail: `${manifestKey} is not JSON: ${errorMessage(error)}` };
  }
  const result = manifestSchema.safeParse(json);
  if (!result.success) {
    return { detail: `${manifestKey} does not match the manifest schema: ${result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}` };
  }
  const manifest = result.data;
  const mismatches = [
    manifest.key !== key ? `key '${manifest.key}'` : undefined,
    manifest.target !== parsed.target ? `target '${manifest.target}'` : undefined,
    manifest.tier !== parsed.tier ? `tier '${manifest.tier}'` : undefined,
    manifest.kind !== parsed.kind ? `kind '${manifest.kind}'` : undefined,
  ].filter((item): item is string => item !== undefined);
  if (mismatches.length > 0) return { detail: `${manifestKey} describes another backup (${mismatches.join(', ')})` };
  return { manifest, detail: '' };
}

async function streamObject(deps: VerifyDeps, key: string, head: HeadObjectCommandOutput, parsed: ParsedBackupKey, manifest: BackupManifest | undefined): Promise<StreamFindings | { readError: string }> {
  try {
    // Read exactly the version that HeadObject saw, even if a newer one lands meanwhile.
    const response = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key, ...(head.VersionId ? { VersionId: head.VersionId } : {}) }));
    const body = response.Body as Readable | undefined;
    if (!body) return { readError: 'GetObject returned no body' };
    const format = manifest?.format ?? FORMAT_BY_KIND[parsed.kind];
    const inspector = inspectorFor(format, { sqliteIntegrityCheckMaxBytes: deps.settings.sqliteIntegrityCheckMaxBytes }, manifest);
    const findings = await checkStream(body, inspector, { deadline: deps.deadline?.(), expectedBytes: head.ContentLength, contentDigest: manifest?.content !== undefined });
    if (findings.stoppedEarly) body.destroy();
    return findings;
  } catch (error) {
    if (isAccessDenied(error)) return { readError: `AWS refused s3:GetObject or kms:Decrypt on ${key}: ${errorMessage(error)}` };
    if (isNotFound(error)) return { readError: `${key} disappeared while being read` };
    if (isRetryable(error)) throw error;
    return { readError: `reading the object failed: ${errorMessage(error)}` };
  }
}

function applyFindings(
  findings: StreamFindings | { readError: string },
  manifest: BackupManifest | undefined,
  headSize: number,
  record: (name: CheckName, status: CheckResult['status'], detail: string) => void,
  figures: Verdict['figures'],
): void {
  if ('readError' in findings) {
    record('integrity', 'failed', findings.readError);
    record('decompression', 'skipped', 'the object could not be read');
    record('format', 'skipped', 'the object could not be read');
    record('content', 'skipped', 'the object could not be read');
    return;
  }
  figures.bytesRead = findings.bytes;
  figures.sha256 = findings.sha256 ?? null;
  figures.decompressedBytes = findings.decompressedBytes;
  figures.seconds = Math.round(findings.seconds * 100) / 100;
  figures.megabytesPerSecond = Math.round((findings.bytes / 1e6 / Math.max(findings.seconds, 0.001)) * 10) / 10;
  if (findings.stoppedEarly) {
    const detail = `${findings.stoppedEarly}: the object is too large to verify in one invocation at this speed; lower verification.maxObjectGiB so it fails up front, or give the worker more memory (CPU)`;
    record('integrity', 'failed', detail);
    record('decompression', 'skipped', detail);
    record('format', 'skipped', detail);
    record('content', 'skipped', detail);
    return;
  }
  if (manifest) {
    figures.manifestBytes = manifest.bytes;
    figures.manifestSha256 = manifest.sha256;
    const problems: string[] = [];
    if (findings.bytes !== manifest.bytes) problems.push(`${findings.bytes} bytes stored but the manifest says ${manifest.bytes}`);
    if (findings.sha256 !== manifest.sha256) problems.push(`SHA-256 ${findings.sha256} differs from the manifest's ${manifest.sha256}`);
    if (findings.bytes !== headSize) problems.push(`read ${findings.bytes} bytes but S3 reports ${headSize}`);
    record('integrity', problems.length > 0 ? 'failed' : 'passed', problems.length > 0 ? problems.join('; ') : `${findings.bytes} bytes, SHA-256 matches the manifest`);
  } else {
    record('integrity', 'skipped', `no manifest to compare with (read ${findings.bytes} bytes, SHA-256 ${findings.sha256})`);
  }
  if (findings.decompressionError) {
    record('decompression', 'failed', findings.decompressionError);
    record('format', 'skipped', 'the gzip stream did not decompress to its end');
    record('content', 'skipped', 'the gzip stream did not decompress to its end');
    return;
  }
  record('decompression', 'passed', `gzip decompressed to its end (${findings.decompressedBytes} bytes)`);
  const format = findings.format;
  if (!format) {
    record('format', 'skipped', 'no format check ran');
  } else {
    for (const [name, value] of Object.entries(format.figures)) figures[`${format.format}.${name}`] = value;
    if (format.problems.length > 0) record('format', 'failed', format.problems.join('; '));
    else if (format.skipped.length > 0) record('format', 'passed', `${format.format} structure read to its end; skipped: ${format.skipped.join('; ')}`);
    else record('format', 'passed', `${format.format} structure read to its end`);
  }
  recordContent(findings, manifest, record, figures);
}

/** The dump against the content digest the script took before compressing it. */
function recordContent(findings: StreamFindings, manifest: BackupManifest | undefined, record: (name: CheckName, status: CheckResult['status'], detail: string) => void, figures: Verdict['figures']): void {
  const expected = manifest?.content;
  if (!expected) {
    record('content', 'skipped', manifest ? 'the manifest has no content digest (made by an older backup script): only the structure and counts were checked' : 'no manifest to compare with');
    return;
  }
  figures.contentSha256 = findings.contentSha256 ?? null;
  if (findings.decompressedBytes === expected.bytes && findings.contentSha256 === expected.sha256) {
    record('content', 'passed', `the ${expected.bytes}-byte dump is the one the script read (SHA-256 matches the content digest)`);
    return;
  }
  const differences = [
    findings.decompressedBytes !== expected.bytes ? `${findings.decompressedBytes} bytes, the script read ${expected.bytes}` : undefined,
    findings.contentSha256 !== expected.sha256 ? `SHA-256 ${findings.contentSha256 ?? 'not computed'}, the script's ${expected.sha256}` : undefined,
  ].filter((item): item is string => item !== undefined);
  record('content', 'failed', `the dump is not the one the script read before compressing it: ${differences.join('; ')}`);
}

interface SizeCheck {
  status: CheckResult['status'];
  detail: string;
  figures: Verdict['figures'];
  /** The previous backup of exactly the same size, when that is what the warning is about. */
  identicalTo?: string;
}

/** Size against the mean of the previous backups that have a manifest (complete ones only). */
export function checkSize(settings: VerifySettings['sizeAnomaly'], history: readonly ListedBackup[], index: number, size: number | undefined): SizeCheck {
  if (size === undefined) return { status: 'skipped', detail: 'the object cannot be read', figures: {} };
  const previous = history.slice(0, Math.max(0, index)).filter((backup) => backup.hasManifest).slice(-settings.history);
  if (previous.length === 0) return { status: 'skipped', detail: 'no earlier complete backup of this target and tier to compare with', figures: {} };
  const mean = previous.reduce((sum, backup) => sum + backup.size, 0) / previous.length;
  const ratio = mean > 0 ? size / mean : Number.POSITIVE_INFINITY;
  const figures = { previousBackups: previous.length, previousMeanBytes: Math.round(mean), sizeRatio: Math.round(ratio * 1000) / 1000 };
  const described = `${size} bytes is ${figures.sizeRatio}x the mean (${Math.round(mean)} bytes) of the previous ${previous.length}`;
  if (ratio < settings.lowerRatio) return { status: 'failed', detail: `size drop: ${described}, below ${settings.lowerRatio}x`, figures };
  if (ratio > settings.upperRatio) return { status: 'failed', detail: `size jump: ${described}, above ${settings.upperRatio}x`, figures };
  const last = previous[previous.length - 1];
  if (settings.flagIdenticalSize && last && last.size === size) {
    return { status: 'warning', detail: `exactly the same size (${size} bytes) as the previous backup ${last.key}, with other content: a stuck or repeated dump`, figures, identicalTo: last.key };
  }
  return { status: 'passed', detail: described, figures };
}

async function checkReplica(deps: VerifyDeps, key: string, head: HeadObjectCommandOutput, now: Date): Promise<{ status: CheckResult['status']; detail: string }> {
  const uploaded = head.LastModified ?? now;
  const minutes = (now.getTime() - uploaded.getTime()) / 60_000;
  const allowance = deps.settings.replicationAllowanceMinutes;
  const sourceStatus = head.ReplicationStatus;
  if (minutes < allowance) {
    return { status: 'pending', detail: `uploaded ${Math.round(minutes)} min ago; the replica is checked after ${allowance} min (replication status ${sourceStatus ?? 'not reported'})` };
  }
  if (sourceStatus === 'FAILED') return { status: 'failed', detail: `S3 reports replication FAILED for this object (uploaded ${Math.round(minutes)} min ago)` };
  let replica: HeadObjectCommandOutput;
  try {
    // Replication keeps version IDs: the replica of exactly the version verified.
    replica = await deps.replicaS3.send(new HeadObjectCommand({ Bucket: deps.replicaBucket, Key: key, ...(head.VersionId ? { VersionId: head.VersionId } : {}) }));
  } catch (error) {
    if (isNotFound(error)) {
      return { status: 'failed', detail: `no replica in s3://${deps.replicaBucket} ${Math.round(minutes)} min after upload (source replication status ${sourceStatus ?? 'not reported'})` };
    }
    if (isAccessDenied(error)) return { status: 'failed', detail: `AWS refused s3:GetObject (HeadObject) on the replica bucket ${deps.replicaBucket}: ${errorMessage(error)}` };
    throw error;
  }
  if (replica.ContentLength !== head.ContentLength) {
    return { status: 'failed', detail: `the replica has ${replica.ContentLength} bytes, the source ${head.ContentLength}` };
  }
  // A present replica with the source still PENDING means S3 has not confirmed the copy.
  if (sourceStatus !== undefined && sourceStatus !== 'COMPLETED') {
    return { status: 'failed', detail: `replication status is ${sourceStatus} ${Math.round(minutes)} min after upload, not COMPLETED` };
  }
  return { status: 'passed', detail: `replica present in ${deps.replicaBucket} with ${replica.ContentLength} bytes (replication ${sourceStatus ?? 'status not reported'})` };
}

async function writeVerdict(deps: VerifyDeps, verdict: Verdict): Promise<void> {
  await deps.s3.send(
    new PutObjectCommand({
      Bucket: deps.bucket,
      Key: verdictKeyFor(verdict.key, new Date(verdict.verifiedAt)),
      // Written once, like every object of the bucket's backup and verdict prefixes.
      IfNoneMatch: '*',
      Body: `${JSON.stringify(verdict, null, 2)}\n`,
      ContentType: 'application/json',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: deps.backupKeyArn,
      ChecksumAlgorithm: 'SHA256',
    }),
  );
}

function publishMetrics(deps: VerifyDeps, verdict: Verdict, replicaStatus: CheckResult['status']): void {
  const { metrics } = deps;
  metrics.addDimension('Target', verdict.target);
  metrics.addDimension('Tier', verdict.tier);
  // Every verification sends VerificationFailed (0 or 1): its sample count is the number of
  // verifications, so no VerificationSucceeded series is billed beside it.
  addCatalogMetric(metrics, METRICS.verificationFailed, verdict.passed ? 0 : 1);
  if (typeof verdict.figures.bytes === 'number') addCatalogMetric(metrics, METRICS.backupBytes, verdict.figures.bytes);
  const size = verdict.checks.find((check) => check.name === 'size');
  // A warning is news in the verdict and the mail, not an alarm.
  // Sent only when they happen: a series is billed for each hour it receives data, and the
  // dashboard and the alarms read the maximum, which a 0 would not change.
  const sizeAnomaly = size?.status === 'failed';
  if (sizeAnomaly) addCatalogMetric(metrics, METRICS.sizeAnomaly, 1);
  const replicaMissing = replicaStatus === 'failed';
  if (replicaMissing) addCatalogMetric(metrics, METRICS.replicaMissing, 1);
  metrics.publishStoredMetrics();
  // The alarms read these series over all targets; a clean verification adds nothing to them.
  publishCatalogMetrics(metrics, {}, [
    ...(verdict.passed ? [] : [[METRICS.verificationFailed, 1] as const]),
    ...(sizeAnomaly ? [[METRICS.sizeAnomaly, 1] as const] : []),
    ...(replicaMissing ? [[METRICS.replicaMissing, 1] as const] : []),
  ]);
}

/** One SNS message per failed (or warning) check, each with its next step. */
async function alert(deps: VerifyDeps, verdict: Verdict): Promise<void> {
  const bad = verdict.checks.filter((check) => check.status === 'failed' || check.status === 'warning');
  for (const check of bad) {
    const headline = check.status === 'failed' ? 'Backup verification failed' : 'Backup verification warning';
    const subject = `${headline}: ${verdict.target} ${verdict.tier} (${check.name})`.slice(0, 100);
    const message = [
      `${headline}.`,
      '',
      `Target: ${verdict.target}`,
      `Tier:   ${verdict.tier}`,
      `Key:    s3://${verdict.bucket}/${verdict.key}`,
      `Check:  ${check.name} (${check.status})`,
      `Detail: ${check.detail}`,
      '',
      `What to do: ${NEXT_STEP[check.name].replaceAll('<target>', verdict.target).replaceAll('<key>', verdict.key)}`,
      '',
      `Verdict: s3://${verdict.bucket}/${verdictKeyFor(verdict.key, new Date(verdict.verifiedAt))}`,
      `Object:  ${consoleLinks.s3Object(deps.region, verdict.bucket, verdict.key)}`,
    ].join('\n');
    try {
      await deps.sns.send(
        new PublishCommand({
          TopicArn: deps.alertTopicArn,
          Subject: subject,
          Message: message,
          MessageAttributes: {
            target: { DataType: 'String', StringValue: verdict.target },
            tier: { DataType: 'String', StringValue: verdict.tier },
            check: { DataType: 'String', StringValue: check.name },
          },
        }),
      );
    } catch (error) {
      // The verdict and the metrics already carry the failure; the alarms still fire.
      deps.logger.error('could not publish the verification alert', { key: verdict.key, check: check.name, error: errorMessage(error) });
    }
  }
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string }).name ?? '';
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return name === 'NotFound' || name === 'NoSuchKey' || name === 'NoSuchVersion' || status === 404;
}

function isRetryable(error: unknown): boolean {
  const name = (error as { name?: string }).name ?? '';
  return /Throttl|SlowDown|RequestTimeout|ServiceUnavailable|InternalError|TimeoutError|ECONNRESET|EPIPE/i.test(name);
}

function gib(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(2);
}
