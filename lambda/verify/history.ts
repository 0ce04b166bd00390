import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { MANIFEST_SUFFIX, VERIFICATION_SUFFIX, isBackupObjectKey, parseBackupKey, type ParsedBackupKey } from '../shared/manifest';
import { verdictSchema, type Verdict } from './verdict';

/** One stored backup of a target and tier, as the bucket listing shows it. */
export interface ListedBackup {
  readonly key: string;
  readonly parsed: ParsedBackupKey;
  readonly size: number;
  readonly lastModified: Date | undefined;
  readonly storageClass: string | undefined;
  readonly hasManifest: boolean;
  readonly hasVerdict: boolean;
}

/** Every backup under `<tier>/<target>/`, oldest first (the key's timestamp orders them). */
export async function listBackups(s3: S3Client, bucket: string, tier: string, target: string): Promise<ListedBackup[]> {
  const objects: { key: string; size: number; lastModified: Date | undefined; storageClass: string | undefined }[] = [];
  const others = new Set<string>();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${tier}/${target}/`, ContinuationToken: token }));
    for (const item of page.Contents ?? []) {
      if (!item.Key) continue;
      if (isBackupObjectKey(item.Key)) {
        objects.push({ key: item.Key, size: item.Size ?? 0, lastModified: item.LastModified, storageClass: item.StorageClass });
      } else {
        others.add(item.Key);
      }
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const backups: ListedBackup[] = [];
  for (const object of objects) {
    const parsed = parseBackupKey(object.key);
    if (!parsed || parsed.tier !== tier || parsed.target !== target) continue;
    backups.push({
      ...object,
      parsed,
      hasManifest: others.has(`${object.key}${MANIFEST_SUFFIX}`),
      hasVerdict: others.has(`${object.key}${VERIFICATION_SUFFIX}`),
    });
  }
  return backups.sort((a, b) => a.parsed.at.getTime() - b.parsed.at.getTime() || a.key.localeCompare(b.key));
}

export async function readVerdict(s3: S3Client, bucket: string, key: string): Promise<Verdict | undefined> {
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${key}${VERIFICATION_SUFFIX}` }));
    const text = (await response.Body?.transformToString()) ?? '';
    const parsed = verdictSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey' || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** How many verdicts, newest first, are read to find the newest passing one. */
const VERDICTS_TO_SEARCH = 10;

/**
 * The newest backup whose verdict passed, among `backups` (oldest first), reading at most a few
 * verdicts from the newest back: a longer run of failures alarms long before it matters.
 */
export async function newestVerified(s3: S3Client, bucket: string, backups: readonly ListedBackup[]): Promise<Verdict | undefined> {
  const withVerdicts = backups.filter((backup) => backup.hasVerdict).reverse().slice(0, VERDICTS_TO_SEARCH);
  for (const backup of withVerdicts) {
    const verdict = await readVerdict(s3, bucket, backup.key);
    if (verdict?.passed) return verdict;
  }
  return undefined;
}

export function hoursBetween(from: Date, to: Date): number {
  return Math.round(((to.getTime() - from.getTime()) / 3_600_000) * 100) / 100;
}
