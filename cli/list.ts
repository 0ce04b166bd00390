import type { S3Client } from '@aws-sdk/client-s3';
import { readStoredManifest, readVerdict } from '../lambda/shared/backup-history';
import { backupsOf } from './holdings';

/**
 * `backup-kit list <target>`: the restore points of a target, newest first: key, version, time,
 * size, verdict, tier, storage class and the retain-until date of its manifest. What an engineer
 * picks a `key` (or `before`) from for a restore event.
 */

export interface RestorePoint {
  readonly key: string;
  readonly tier: string;
  readonly at: string;
  readonly bytes: number;
  readonly storageClass: string;
  /** The version the verdict pins (the one a restore reads); absent when never verified. */
  readonly versionId?: string;
  readonly verdict: 'passed' | 'failed' | 'unverified';
  readonly reasons: readonly string[];
  /** Object Lock retain-until of the backup, as its manifest states. */
  readonly retainUntil?: string;
}

/** Most restore points listed at once; `--since` narrows. Each reads a verdict and a manifest. */
export const LIST_LIMIT = 200;

export async function listRestorePoints(s3: S3Client, bucket: string, target: string, tiers: readonly string[], options: { readonly since?: Date; readonly limit?: number } = {}): Promise<RestorePoint[]> {
  const limit = options.limit ?? LIST_LIMIT;
  const perTier = await Promise.all(tiers.map(async (tier) => (await backupsOf(s3, bucket, tier, target, 0)).filter((backup) => !options.since || backup.parsed.at >= options.since)));
  const newestFirst = perTier
    .flat()
    .sort((a, b) => b.parsed.at.getTime() - a.parsed.at.getTime() || a.key.localeCompare(b.key))
    .slice(0, limit);
  return Promise.all(
    newestFirst.map(async (backup) => {
      const [verdict, manifest] = await Promise.all([readVerdict(s3, bucket, backup.key, backup.verdictKey), readStoredManifest(s3, bucket, backup.key)]);
      return {
        key: backup.key,
        tier: backup.parsed.tier,
        at: backup.parsed.at.toISOString(),
        bytes: backup.size,
        storageClass: backup.storageClass ?? 'STANDARD',
        ...(verdict?.versionId ? { versionId: verdict.versionId } : {}),
        verdict: verdict ? (verdict.passed ? 'passed' : 'failed') : 'unverified',
        reasons: verdict?.reasons ?? [],
        ...(manifest ? { retainUntil: manifest.retainUntil } : {}),
      } satisfies RestorePoint;
    }),
  );
}
