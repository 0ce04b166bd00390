import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { RESERVED_PREFIXES } from '../contracts/bucket-layout';
import { parseBackupKey, isBackupObjectKey } from '../contracts/manifest';
import { drillRecordKey, drillRecordSchema, type DrillRecord } from '../contracts/restore-command';
import { listBackups, readStoredJson, readVerdict, type ListedBackup } from '../lambda/shared/backup-history';
import type { Verdict } from '../contracts/verdict';

/**
 * What the backup bucket holds, read as the jobs wrote it: backups by tier and target, their
 * manifests and newest verdicts, and each target's last successful drill. The status and list
 * commands read nothing else; every read is a GET or a LIST.
 */

/** A target and tier the bucket holds backups of, with the kind its keys say. */
export interface HeldSeries {
  readonly tier: string;
  readonly target: string;
  readonly kind: string;
}

/** The tiers and targets under the bucket's top-level prefixes, from one key of each (for a bucket without a config). */
export async function heldSeries(s3: S3Client, bucket: string): Promise<HeldSeries[]> {
  const found = new Map<string, HeldSeries>();
  const prefixes = async (prefix: string): Promise<string[]> => {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }));
      for (const common of page.CommonPrefixes ?? []) if (common.Prefix) names.push(common.Prefix);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return names;
  };
  // The kit's own prefixes (verdicts/, drills/, reports/, ...) hold no backups.
  for (const tierPrefix of (await prefixes('')).filter((prefix) => !(prefix in RESERVED_PREFIXES))) {
    for (const targetPrefix of await prefixes(tierPrefix)) {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: targetPrefix, MaxKeys: 50 }));
      const key = (page.Contents ?? []).map((item) => item.Key ?? '').find((candidate) => isBackupObjectKey(candidate) && parseBackupKey(candidate));
      const parsed = key ? parseBackupKey(key) : undefined;
      if (parsed) found.set(`${parsed.tier}/${parsed.target}`, { tier: parsed.tier, target: parsed.target, kind: parsed.kind });
    }
  }
  return [...found.values()].sort((a, b) => a.target.localeCompare(b.target) || a.tier.localeCompare(b.tier));
}

export interface BackupWithVerdict extends ListedBackup {
  readonly verdict: Verdict | undefined;
}

/** The backups of one target in one tier, oldest first; the verdicts of the newest `withVerdicts` read. */
export async function backupsOf(s3: S3Client, bucket: string, tier: string, target: string, withVerdicts: number): Promise<BackupWithVerdict[]> {
  const backups = await listBackups(s3, bucket, tier, target);
  const readFrom = Math.max(0, backups.length - withVerdicts);
  return Promise.all(backups.map(async (backup, index) => ({ ...backup, verdict: index >= readFrom ? await readVerdict(s3, bucket, backup.key, backup.verdictKey) : undefined })));
}

/** The target's last successful drill, as the drill result recorded it. */
export async function lastDrillOf(s3: S3Client, bucket: string, target: string): Promise<DrillRecord | undefined> {
  const parsed = drillRecordSchema.safeParse(await readStoredJson(s3, bucket, drillRecordKey(target)));
  return parsed.success && parsed.data.target === target ? parsed.data : undefined;
}
