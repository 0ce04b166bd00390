import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { MANIFEST_SUFFIX, backupKeyOfVerdict, isBackupObjectKey, manifestKeyFor, manifestSchema, parseBackupKey, verdictPrefixFor, verdictPrefixOf, type BackupManifest, type ParsedBackupKey } from '../../contracts/manifest';
import { verdictSchema, type Verdict } from '../../contracts/verdict';

/** One stored backup of a target and tier, as the bucket listing shows it. */
export interface ListedBackup {
  readonly key: string;
  readonly parsed: ParsedBackupKey;
  readonly size: number;
  readonly lastModified: Date | undefined;
  readonly storageClass: string | undefined;
  readonly hasManifest: boolean;
  /** The newest verdict of this backup (under `verdicts/`), when it has one. */
  readonly verdictKey: string | undefined;
}

async function listKeys(s3: S3Client, bucket: string, prefix: string, each: (item: { Key: string; Size?: number; LastModified?: Date; StorageClass?: string }) => void): Promise<void> {
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const item of page.Contents ?? []) if (item.Key) each({ ...item, Key: item.Key });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** The newest verdict key per backup key, among the keys listed under a verdict prefix. */
function newestVerdicts(keys: readonly string[]): Map<string, string> {
  const newest = new Map<string, string>();
  for (const key of keys) {
    const backup = backupKeyOfVerdict(key);
    if (backup === undefined) continue;
    const current = newest.get(backup);
    if (current === undefined || key > current) newest.set(backup, key);
  }
  return newest;
}

/** Every backup under `<tier>/<target>/`, oldest first (the key's timestamp orders them), with its newest verdict. */
export async function listBackups(s3: S3Client, bucket: string, tier: string, target: string): Promise<ListedBackup[]> {
  const objects: { key: string; size: number; lastModified: Date | undefined; storageClass: string | undefined }[] = [];
  const others = new Set<string>();
  const verdictKeys: string[] = [];
  await Promise.all([
    listKeys(s3, bucket, `${tier}/${target}/`, (item) => {
      if (isBackupObjectKey(item.Key)) objects.push({ key: item.Key, size: item.Size ?? 0, lastModified: item.LastModified, storageClass: item.StorageClass });
      else others.add(item.Key);
    }),
    listKeys(s3, bucket, verdictPrefixOf(tier, target), (item) => verdictKeys.push(item.Key)),
  ]);
  const verdicts = newestVerdicts(verdictKeys);
  const backups: ListedBackup[] = [];
  for (const object of objects) {
    const parsed = parseBackupKey(object.key);
    if (!parsed || parsed.tier !== tier || parsed.target !== target) continue;
    backups.push({ ...object, parsed, hasManifest: others.has(`${object.key}${MANIFEST_SUFFIX}`), verdictKey: verdicts.get(object.key) });
  }
  return backups.sort((a, b) => a.parsed.at.getTime() - b.parsed.at.getTime() || a.key.localeCompare(b.key));
}

/** The newest verdict key of one backup, undefined when it was never verified. */
export async function newestVerdictKey(s3: S3Client, bucket: string, backupKey: string): Promise<string | undefined> {
  const keys: string[] = [];
  await listKeys(s3, bucket, verdictPrefixFor(backupKey), (item) => keys.push(item.Key));
  return newestVerdicts(keys).get(backupKey);
}

/** An object of the bucket read as JSON; undefined when it is missing or not JSON. */
export async function readStoredJson(s3: S3Client, bucket: string, key: string): Promise<unknown> {
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return JSON.parse((await response.Body?.transformToString()) ?? '');
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey' || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/**
 * The verdict stored at `verdictKey` for `backupKey`; undefined when it is missing, not a
 * verdict, or about another backup or bucket (only the verifier writes there, but a reader checks anyway).
 */
export async function readVerdict(s3: S3Client, bucket: string, backupKey: string, verdictKey: string | undefined): Promise<Verdict | undefined> {
  if (verdictKey === undefined) return undefined;
  const parsed = verdictSchema.safeParse(await readStoredJson(s3, bucket, verdictKey));
  // A verdict about the primary bucket's backup speaks for the replica's copy when the verifier found it there.
  return parsed.success && parsed.data.key === backupKey && (parsed.data.bucket === bucket || parsed.data.replicaBucket === bucket) ? parsed.data : undefined;
}

/** The manifest of a backup; undefined when it is missing, not a manifest, or about another backup. */
export async function readStoredManifest(s3: S3Client, bucket: string, backupKey: string): Promise<BackupManifest | undefined> {
  const parsed = manifestSchema.safeParse(await readStoredJson(s3, bucket, manifestKeyFor(backupKey)));
  return parsed.success && parsed.data.key === backupKey ? parsed.data : undefined;
}

/** How many verdicts, newest first, are read to find the newest passing one. */
const VERDICTS_TO_SEARCH = 10;

/**
 * The newest backup whose verdict passed, among `backups` (oldest first), reading at most a few
 * verdicts from the newest back: a longer run of failures alarms long before it matters.
 */
export async function newestVerified(s3: S3Client, bucket: string, backups: readonly ListedBackup[]): Promise<Verdict | undefined> {
  const withVerdicts = backups.filter((backup) => backup.verdictKey !== undefined).reverse().slice(0, VERDICTS_TO_SEARCH);
  for (const backup of withVerdicts) {
    const verdict = await readVerdict(s3, bucket, backup.key, backup.verdictKey);
    if (verdict?.passed) return verdict;
  }
  return undefined;
}

export function hoursBetween(from: Date, to: Date): number {
  return Math.round(((to.getTime() - from.getTime()) / 3_600_000) * 100) / 100;
}
