import type { S3Client } from '@aws-sdk/client-s3';
import { hoursBetween } from '../lambda/shared/backup-history';
import { age } from './table';
import { objectivesFor, type RecoveryObjectives } from '../contracts/objectives';
import { backupsOf, lastDrillOf, type BackupWithVerdict } from './holdings';

/**
 * `backup-kit status`: per target and tier, the newest backup and its age against the RPO, its
 * verdict, the size trend and the replica's state; per target, the last successful drill and its
 * time against the RTO. A target misses when no verified backup is within its RPO, or when it is
 * drilled and has no successful drill within the drill window; the command then exits 1.
 */

/** Days a drilled target may go without a successful drill before status says it misses (the drills' own alarm window). */
export const DRILL_WINDOW_DAYS = 35;
/** How many newest backups' verdicts are read per tier: the newest verified one is usually among them. */
const VERDICTS_READ = 5;

/** One target as status knows it: from the config, or from what the bucket holds. */
export interface StatusTarget {
  readonly name: string;
  readonly kind: string;
  readonly tiers: readonly string[];
  readonly objectives: RecoveryObjectives;
  /** Whether it takes part in the drills (then a missing drill is a miss). */
  readonly drilled: boolean;
}

export interface TierStatus {
  readonly tier: string;
  readonly backups: number;
  readonly newest?: { readonly key: string; readonly at: string; readonly ageHours: number; readonly bytes: number; readonly verdict: 'passed' | 'failed' | 'unverified'; readonly reasons: readonly string[] };
  /** The newest backup whose verdict passed. */
  readonly newestVerified?: { readonly key: string; readonly at: string; readonly ageHours: number };
  /** The newest backup's size against the median of the (up to) four before it, in percent. */
  readonly sizeChangePercent?: number;
  /** The replica check of the newest verdict: passed, pending, failed, skipped; absent without one. */
  readonly replica?: string;
}

export interface TargetStatus {
  readonly target: string;
  readonly kind: string;
  readonly objectives: RecoveryObjectives;
  readonly tiers: readonly TierStatus[];
  /** Hours since the newest verified backup of any tier; absent when none is verified. */
  readonly verifiedAgeHours?: number;
  readonly rpoMet: boolean;
  readonly drill?: { readonly at: string; readonly ageDays: number; readonly restoreSeconds: number; readonly rtoMet: boolean };
  readonly drilled: boolean;
  readonly drillMet: boolean;
  /** Why the target misses, one line each; empty when it meets its objectives. */
  readonly misses: readonly string[];
}

export interface StatusReport {
  readonly bucket: string;
  readonly at: string;
  readonly targets: readonly TargetStatus[];
}


function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

function tierStatus(tier: string, backups: readonly BackupWithVerdict[], now: Date): TierStatus {
  const newest = backups.at(-1);
  if (!newest) return { tier, backups: 0 };
  const verified = [...backups].reverse().find((backup) => backup.verdict?.passed);
  const before = median(backups.slice(-5, -1).map((backup) => backup.size));
  const replica = newest.verdict?.checks.find((check) => check.name === 'replica')?.status;
  return {
    tier,
    backups: backups.length,
    newest: {
      key: newest.key,
      at: newest.parsed.at.toISOString(),
      ageHours: hoursBetween(newest.parsed.at, now),
      bytes: newest.size,
      verdict: newest.verdict ? (newest.verdict.passed ? 'passed' : 'failed') : 'unverified',
      reasons: newest.verdict?.reasons ?? [],
    },
    ...(verified ? { newestVerified: { key: verified.key, at: verified.parsed.at.toISOString(), ageHours: hoursBetween(verified.parsed.at, now) } } : {}),
    ...(before ? { sizeChangePercent: Math.round(((newest.size - before) / before) * 1000) / 10 } : {}),
    ...(replica ? { replica } : {}),
  };
}

export async function gatherStatus(s3: S3Client, bucket: string, targets: readonly StatusTarget[], now: Date = new Date()): Promise<StatusReport> {
  const statuses = await Promise.all(
    targets.map(async (target): Promise<TargetStatus> => {
      const [tiers, drill] = await Promise.all([
        Promise.all(target.tiers.map(async (tier) => tierStatus(tier, await backupsOf(s3, bucket, tier, target.name, VERDICTS_READ), now))),
        lastDrillOf(s3, bucket, target.name),
      ]);
      const verifiedAges = tiers.flatMap((tier) => (tier.newestVerified ? [tier.newestVerified.ageHours] : []));
      const verifiedAgeHours = verifiedAges.length > 0 ? Math.min(...verifiedAges) : undefined;
      const rpoMet = verifiedAgeHours !== undefined && verifiedAgeHours <= target.objectives.rpoHours;
      const drillStatus = drill
        ? { at: drill.succeededAt, ageDays: Math.round((hoursBetween(new Date(drill.succeededAt), now) / 24) * 10) / 10, restoreSeconds: drill.restoreSeconds, rtoMet: drill.restoreSeconds <= target.objectives.rtoHours * 3600 }
        : undefined;
      const drillMet = !target.drilled || (drillStatus !== undefined && drillStatus.ageDays <= DRILL_WINDOW_DAYS);
      const misses = [
        ...(rpoMet ? [] : [verifiedAgeHours === undefined ? 'no verified backup' : `newest verified backup is ${age(verifiedAgeHours)} old, RPO ${target.objectives.rpoHours} h`]),
        ...(drillMet ? [] : [drillStatus ? `last good drill ${drillStatus.ageDays} days ago (window ${DRILL_WINDOW_DAYS})` : 'never drilled successfully']),
      ];
      return {
        target: target.name,
        kind: target.kind,
        objectives: target.objectives,
        tiers,
        ...(verifiedAgeHours !== undefined ? { verifiedAgeHours } : {}),
        rpoMet,
        ...(drillStatus ? { drill: drillStatus } : {}),
        drilled: target.drilled,
        drillMet,
        misses,
      };
    }),
  );
  return { bucket, at: now.toISOString(), targets: statuses };
}

/** 1 when any target misses its RPO or its drills, else 0: for pipelines. */
export function statusExitCode(report: StatusReport): number {
  return report.targets.some((target) => target.misses.length > 0) ? 1 : 0;
}

/** Targets from what the bucket holds, with the default objectives of their kind (no config given). */
export function targetsFromHoldings(series: readonly { tier: string; target: string; kind: string }[]): StatusTarget[] {
  const byTarget = new Map<string, { kind: string; tiers: string[] }>();
  for (const entry of series) {
    const current = byTarget.get(entry.target) ?? { kind: entry.kind, tiers: [] };
    current.tiers.push(entry.tier);
    byTarget.set(entry.target, current);
  }
  return [...byTarget.entries()].map(([name, { kind, tiers }]) => ({ name, kind, tiers, objectives: objectivesFor(kind, undefined), drilled: true }));
}
