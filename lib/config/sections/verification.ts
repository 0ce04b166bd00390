import { z } from 'zod';
import type { BackupKitConfig, ConfigIssue } from '../config';
import { schedulerCronSchema } from '../schema';

/**
 * Verification of every backup: when it runs, what counts as too old, too small or too big,
 * how long replication may take, and the limits that keep one verification inside one Lambda
 * invocation.
 */
const sizeAnomalySchema = z.strictObject({
  /** A backup smaller than this fraction of the mean of the previous backups is an anomaly. */
  lowerRatio: z.number().gt(0).lt(1).default(0.8),
  /** A backup larger than this multiple of the mean of the previous backups is an anomaly. */
  upperRatio: z.number().gt(1).default(2),
  /** How many previous backups of the same target and tier make the mean. */
  history: z.number().int().min(1).max(100).default(7),
  /** Flag a backup whose byte count equals the previous one's exactly (a stuck or cached dump). */
  flagIdenticalSize: z.boolean().default(true),
});

export const DEFAULT_SIZE_ANOMALY = { lowerRatio: 0.8, upperRatio: 2, history: 7, flagIdenticalSize: true } as const;

const verificationSchema = z.strictObject({
  /** When the daily verification runs, in the config's time zone (after the backups of the night). */
  schedule: schedulerCronSchema.default('cron(0 5 * * ? *)'),
  /**
   * Hours the newest verified backup of a daily (or more frequent) tier may be old before it
   * alarms: 24 h between backups plus 2 h for a slow dump.
   */
  maxAgeHours: z.number().int().min(1).default(26),
  /**
   * Per tier, the hours its newest verified backup may be old. Tiers not named here get a value
   * derived from their schedule (see `tierMaxAgeHours`); on-demand tiers have no age limit.
   */
  tierMaxAgeHours: z.record(z.string(), z.number().int().min(1)).default({}),
  sizeAnomaly: sizeAnomalySchema.default(DEFAULT_SIZE_ANOMALY),
  /**
   * Minutes after upload before a missing or incomplete replica counts as a failure:
   * the 15 minutes Replication Time Control promises plus a margin.
   */
  replicationAllowanceMinutes: z.number().int().min(1).default(30),
  /**
   * Largest decompressed SQLite database (MiB) that gets `PRAGMA integrity_check`; the check needs
   * the whole file in memory (about three times this size at peak). Above it the check is skipped
   * and the verdict says so.
   */
  sqliteIntegrityCheckMaxMiB: z.number().int().min(1).max(1024).default(128),
  /**
   * Memory of the worker function (MiB). Verification needs little memory; Lambda gives CPU in
   * proportion to it, and 1769 MiB is one full vCPU, which the hashing and gunzip use.
   */
  workerMemoryMiB: z.number().int().min(256).max(10240).default(1769),
  /** Most verifications running at once (SQS event source maxConcurrency, 2-1000). */
  maxConcurrency: z.number().int().min(2).max(1000).default(10),
  /**
   * Largest stored (compressed) object one invocation verifies (GiB). Larger objects fail with a
   * clear reason instead of timing out: docs/verification.md ("Limits: the largest object one invocation verifies") says where the figure comes from.
   */
  maxObjectGiB: z.number().min(0.001).default(16),
});
export type VerificationConfig = z.infer<typeof verificationSchema>;

export const DEFAULT_VERIFICATION: z.input<typeof verificationSchema> = {};

export const verificationConfigShape = {
  verification: verificationSchema.default(verificationSchema.parse(DEFAULT_VERIFICATION)),
};

const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** Days of the week (0 = Sunday) an EventBridge day-of-week field selects; undefined if not understood. */
export function daysOfWeek(field: string): number[] | undefined {
  const days = new Set<number>();
  const toDay = (token: string): number | undefined => {
    const named = DAY_NAMES.indexOf(token.toUpperCase());
    if (named >= 0) return named;
    // EventBridge numbers days 1 (Sunday) to 7 (Saturday).
    const number = Number(token);
    return Number.isInteger(number) && number >= 1 && number <= 7 ? number - 1 : undefined;
  };
  for (const part of field.replace(/#\d+$|L$/, '').split(',')) {
    const [from, to] = part.split('-');
    const start = from === undefined ? undefined : toDay(from);
    if (start === undefined) return undefined;
    const end = to === undefined ? start : toDay(to);
    if (end === undefined) return undefined;
    for (let day = start; ; day = (day + 1) % 7) {
      days.add(day);
      if (day === end) break;
    }
  }
  return [...days].sort((a, b) => a - b);
}

/**
 * How many hours a tier's newest verified backup may be old before it alarms, or undefined for
 * an on-demand tier (no schedule, no expectation). Daily (or more frequent) schedules get
 * `maxAgeHours`; weekly ones the longest gap between their days plus one day (8 days for one day
 * a week); monthly ones 32 days. One day of margin on the long tiers lets a slow weekly or
 * monthly dump finish without a false alarm while a missed run still alarms within a day.
 */
export function tierMaxAgeHours(config: Pick<BackupKitConfig, 'tiers' | 'verification'>, tier: string): number | undefined {
  const override = config.verification.tierMaxAgeHours[tier];
  if (override !== undefined) return override;
  const schedule = config.tiers[tier]?.schedule;
  if (schedule === undefined) return undefined;
  return derivedMaxAgeHours(schedule, config.verification.maxAgeHours);
}

/** See `tierMaxAgeHours`; undefined when the schedule's cadence cannot be derived (set an override). */
export function derivedMaxAgeHours(schedule: string, dailyMaxAgeHours: number): number | undefined {
  const fields = /^cron\((.*)\)$/.exec(schedule.trim())?.[1]?.trim().split(/\s+/);
  if (!fields || fields.length !== 6) return undefined;
  const [, , dayOfMonth, month, dayOfWeek] = fields as [string, string, string, string, string, string];
  if (month !== '*') return undefined;
  if (dayOfMonth !== '?' && dayOfMonth !== '*') return 32 * 24;
  if (dayOfWeek === '?' || dayOfWeek === '*') return dailyMaxAgeHours;
  const days = daysOfWeek(dayOfWeek);
  if (!days || days.length === 0) return undefined;
  if (days.length === 7) return dailyMaxAgeHours;
  const gaps = days.map((day, index) => {
    const next = days[(index + 1) % days.length] ?? day;
    return (next - day + 7) % 7 || 7;
  });
  return Math.max(...gaps) * 24 + 24;
}

/** Cross-field checks of the verification section. */
export function verificationIssues(config: BackupKitConfig): { errors: ConfigIssue[]; warnings: ConfigIssue[] } {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const verification = config.verification;
  for (const tier of Object.keys(verification.tierMaxAgeHours)) {
    if (!(tier in config.tiers)) {
      errors.push({
        path: ['verification', 'tierMaxAgeHours', tier],
        message: `no tier named '${tier}' (tiers: ${Object.keys(config.tiers).join(', ')})`,
      });
    }
  }
  for (const [name, tier] of Object.entries(config.tiers)) {
    if (tier.schedule === undefined || name in verification.tierMaxAgeHours) continue;
    if (derivedMaxAgeHours(tier.schedule, verification.maxAgeHours) === undefined) {
      errors.push({
        path: ['verification', 'tierMaxAgeHours', name],
        message: `cannot derive the maximum backup age from tier '${name}' schedule '${tier.schedule}'; set it here in hours`,
      });
    }
  }
  if (verification.maxAgeHours < 24) {
    warnings.push({
      path: ['verification', 'maxAgeHours'],
      message: `${verification.maxAgeHours} h is less than a day: a daily backup alarms every day before it runs`,
    });
  }
  if (!config.replication.replicationTimeControl && verification.replicationAllowanceMinutes < 120) {
    warnings.push({
      path: ['verification', 'replicationAllowanceMinutes'],
      message: `${verification.replicationAllowanceMinutes} min with Replication Time Control off: S3 gives no time promise, large replicas may be reported missing`,
    });
  }
  if (verification.sqliteIntegrityCheckMaxMiB * 3 + 128 > verification.workerMemoryMiB) {
    errors.push({
      path: ['verification', 'sqliteIntegrityCheckMaxMiB'],
      message: `${verification.sqliteIntegrityCheckMaxMiB} MiB needs about ${verification.sqliteIntegrityCheckMaxMiB * 3 + 128} MiB of worker memory but workerMemoryMiB is ${verification.workerMemoryMiB}`,
    });
  }
  return { errors, warnings };
}
