import { cronRuns } from '../../contracts/cron';
import { MONTH_PATTERN } from '../../contracts/evidence-report';
import type { RecoveryObjectives } from '../../contracts/objectives';

/**
 * The monthly evidence of each target, computed from what the backup bucket and the drill
 * metrics hold: backups scheduled, made, verified and failed; the longest time without a verified
 * backup against the RPO; the drills and their times against the RTO; lock, encryption and
 * replica. Pure: the inputs are gathered elsewhere (gather.ts), the output rendered elsewhere.
 */

export interface MonthWindow {
  /** `YYYY-MM`. */
  readonly month: string;
  readonly from: Date;
  /** The end of the month, or the time of the report for the current month. */
  readonly to: Date;
}

/** The window of `YYYY-MM` in UTC, ending at `now` when the month is not over. */
export function monthWindow(month: string, now: Date): MonthWindow {
  const match = MONTH_PATTERN.exec(month);
  if (!match) throw new Error(`month: '${month}' is not YYYY-MM`);
  const from = monthStart(Number(match[1]), Number(match[2]) - 1);
  const end = monthStart(Number(match[1]), Number(match[2]));
  if (from.getTime() > now.getTime()) throw new Error(`month: ${month} has not begun`);
  return { month, from, to: end.getTime() < now.getTime() ? end : now };
}

/** The 1st of a month at 00:00 UTC; any year as written (Date.UTC reads 0-99 as 1900-1999). */
function monthStart(year: number, monthIndex: number): Date {
  const date = new Date(0);
  date.setUTCFullYear(year, monthIndex, 1);
  return date;
}

/** The month before the one `now` is in (what the report of the 1st covers). */
export function previousMonth(now: Date): string {
  return monthStart(now.getUTCFullYear(), now.getUTCMonth() - 1).toISOString().slice(0, 7);
}

export interface BackupFact {
  readonly key: string;
  readonly tier: string;
  readonly at: Date;
  readonly bytes: number;
  readonly verdict: 'passed' | 'failed' | 'unverified';
  readonly reasons: readonly string[];
  /** The replica check of its verdict: passed, pending, failed, skipped. */
  readonly replica?: string;
  /** Object Lock retain-until, from its manifest. */
  readonly retainUntil?: string;
}

export interface DrillFact {
  /** The day (or time) the drill's metrics were recorded. */
  readonly at: Date;
  readonly succeeded: boolean;
  /** Seconds to a checked copy; only for a drill that succeeded. */
  readonly seconds?: number;
}

export interface TargetInput {
  readonly name: string;
  readonly kind: string;
  readonly objectives: RecoveryObjectives;
  readonly tiers: readonly { readonly tier: string; readonly schedule?: string }[];
  /** The backups of the month, and the newest verified one before it (the first gap starts there). */
  readonly backups: readonly BackupFact[];
  readonly verifiedBefore?: Date;
  readonly drills: readonly DrillFact[];
  /** Whether it takes part in the drills. */
  readonly drilled: boolean;
}

export interface TierEvidence {
  readonly tier: string;
  /** Runs its schedule made in the month; undefined for an unscheduled tier or a schedule not followed here. */
  readonly scheduled?: number;
  readonly made: number;
  readonly verified: number;
  readonly failed: number;
  readonly unverified: number;
}

export interface TargetEvidence {
  readonly target: string;
  readonly kind: string;
  readonly objectives: RecoveryObjectives;
  readonly tiers: readonly TierEvidence[];
  /** The longest time in the month without a verified backup to restore, and when. */
  readonly longestGap: { readonly hours: number; readonly from: string; readonly to: string };
  readonly rpoMet: boolean;
  /** The age of the newest verified backup at each day's start and at the end: the chart's line. */
  readonly ageSeries: readonly { readonly at: string; readonly hours: number | null }[];
  readonly drills: readonly { readonly at: string; readonly succeeded: boolean; readonly minutes?: number; readonly rtoMet?: boolean }[];
  readonly drilled: boolean;
  /** A drilled target: at least one drill passed in the month and every passing drill was within the RTO. */
  readonly rtoMet: boolean;
  readonly failedBackups: readonly { readonly key: string; readonly reasons: readonly string[] }[];
  readonly newest?: { readonly key: string; readonly retainUntil?: string; readonly replica?: string };
  /** Why the target missed its objectives this month; empty when it met them. */
  readonly misses: readonly string[];
}

const HOUR = 3_600_000;
const round = (value: number) => Math.round(value * 10) / 10;

export function targetEvidence(input: TargetInput, window: MonthWindow): TargetEvidence {
  const inMonth = input.backups.filter((backup) => backup.at >= window.from && backup.at < window.to).sort((a, b) => a.at.getTime() - b.at.getTime());
  const tiers = input.tiers.map(({ tier, schedule }): TierEvidence => {
    const ofTier = inMonth.filter((backup) => backup.tier === tier);
    const runs = schedule ? cronRuns(schedule, window.from, window.to) : undefined;
    return {
      tier,
      ...(runs ? { scheduled: runs.length } : {}),
      made: ofTier.length,
      verified: ofTier.filter((backup) => backup.verdict === 'passed').length,
      failed: ofTier.filter((backup) => backup.verdict === 'failed').length,
      unverified: ofTier.filter((backup) => backup.verdict === 'unverified').length,
    };
  });

  // From the month's start (or the last verified backup before it) to its end: the gaps between verified backups.
  const verified = inMonth.filter((backup) => backup.verdict === 'passed').map((backup) => backup.at);
  const points = [input.verifiedBefore && input.verifiedBefore < window.from ? input.verifiedBefore : window.from, ...verified, window.to];
  let longest = { hours: 0, from: window.from, to: window.from };
  for (let index = 1; index < points.length; index += 1) {
    const [start, end] = [points[index - 1] ?? window.from, points[index] ?? window.to];
    const hours = (end.getTime() - start.getTime()) / HOUR;
    if (hours > longest.hours) longest = { hours, from: start, to: end };
  }
  const rpoMet = longest.hours <= input.objectives.rpoHours;

  const days: Date[] = [];
  for (let day = window.from.getTime(); day < window.to.getTime(); day += 24 * HOUR) days.push(new Date(day));
  days.push(window.to);
  const ageSeries = days.map((at) => {
    const newest = [input.verifiedBefore, ...verified].filter((time): time is Date => time !== undefined && time <= at).at(-1);
    return { at: at.toISOString(), hours: newest ? round((at.getTime() - newest.getTime()) / HOUR) : null };
  });

  const drills = input.drills
    .filter((drill) => drill.at >= window.from && drill.at < window.to)
    .sort((a, b) => a.at.getTime() - b.at.getTime())
    .map((drill) => ({
      at: drill.at.toISOString(),
      succeeded: drill.succeeded,
      ...(drill.succeeded && drill.seconds !== undefined ? { minutes: round(drill.seconds / 60), rtoMet: drill.seconds <= input.objectives.rtoHours * 3600 } : {}),
    }));
  const passed = drills.filter((drill) => drill.succeeded);
  const rtoMet = !input.drilled || (passed.length > 0 && passed.every((drill) => drill.rtoMet !== false));
  const misses = [
    ...(rpoMet ? [] : [`${round(longest.hours)} h without a verified backup (${longest.from.toISOString().slice(0, 16)}Z to ${longest.to.toISOString().slice(0, 16)}Z), RPO ${input.objectives.rpoHours} h`]),
    ...(!input.drilled ? [] : passed.length === 0 ? [drills.length > 0 ? `every drill failed (${drills.length})` : 'no drill this month'] : []),
    ...passed.filter((drill) => drill.rtoMet === false).map((drill) => `drill of ${drill.at.slice(0, 10)} took ${drill.minutes} min, RTO ${input.objectives.rtoHours} h`),
  ];
  const newest = inMonth.at(-1);
  return {
    target: input.name,
    kind: input.kind,
    objectives: input.objectives,
    tiers,
    longestGap: { hours: round(longest.hours), from: longest.from.toISOString(), to: longest.to.toISOString() },
    rpoMet,
    ageSeries,
    drills,
    drilled: input.drilled,
    rtoMet,
    failedBackups: inMonth.filter((backup) => backup.verdict === 'failed').map((backup) => ({ key: backup.key, reasons: backup.reasons })),
    ...(newest ? { newest: { key: newest.key, ...(newest.retainUntil ? { retainUntil: newest.retainUntil } : {}), ...(newest.replica ? { replica: newest.replica } : {}) } } : {}),
    misses,
  };
}

export interface StorageEvidence {
  readonly bucket: string;
  /** The bucket's default encryption: the algorithm and key. */
  readonly encryption: string;
  readonly objectLock: string;
}

/** An RDS instance or Aurora cluster: the point-in-time window RDS keeps, and the restores of the month. */
export interface DatabaseEvidence {
  readonly resource: string;
  /** Days of point-in-time restore RDS keeps (its backup retention). */
  readonly retentionDays?: number;
  readonly earliest?: string;
  readonly latest?: string;
  /** Point-in-time restores of it the kit completed in the month, and the slowest, in minutes. */
  readonly restores: number;
  readonly slowestRestoreMinutes?: number;
  readonly problem?: string;
}

export interface EvidenceReport {
  readonly title: string;
  readonly month: string;
  readonly from: string;
  readonly to: string;
  readonly generatedAt: string;
  readonly storage: StorageEvidence;
  readonly targets: readonly TargetEvidence[];
  readonly databases: readonly DatabaseEvidence[];
  /** Alarms in ALARM when the report was made. */
  readonly openAlarms: readonly string[];
  readonly summary: { readonly met: number; readonly missed: number; readonly missedTargets: readonly string[] };
}

export function evidenceReport(prefix: string, window: MonthWindow, storage: StorageEvidence, inputs: readonly TargetInput[], openAlarms: readonly string[], now: Date, databases: readonly DatabaseEvidence[] = []): EvidenceReport {
  const targets = inputs.map((input) => targetEvidence(input, window));
  const missed = targets.filter((target) => target.misses.length > 0).map((target) => target.target);
  return {
    title: `${prefix === '' ? 'backup-kit' : prefix}: backup and restore evidence, ${window.month}`,
    month: window.month,
    from: window.from.toISOString(),
    to: window.to.toISOString(),
    generatedAt: now.toISOString(),
    storage,
    targets,
    databases: [...databases],
    openAlarms: [...openAlarms],
    summary: { met: targets.length - missed.length, missed: missed.length, missedTargets: missed },
  };
}
