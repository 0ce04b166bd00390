import type { BackupKitConfig } from '../config/config';
import { tiersOfTarget } from '../config/sections/targets';
import { tierMaxAgeHours } from '../config/sections/verification';
import { watchedManagedResources } from '../config/sections/aws-backup';

/**
 * The custom metrics the kit's jobs send, as CloudWatch bills them: each series by the hours it
 * receives data in (a series sent once a day costs about 30/730 of one sent every hour). Counted
 * from the config: the hourly age of each scheduled tier and of each watched AWS Backup resource;
 * per target and run, the backup result's and the verifier's series; per drilled target, the
 * daily report.
 */
export interface MetricUsage {
  /** Series sent every hour: the age of each scheduled tier and of each watched AWS Backup resource. */
  readonly hourlySeries: number;
  /** Series-hours a month of the series sent per run or per day. */
  readonly seriesHoursPerMonth: number;
}

/**
 * Series a backup run adds: BackupSucceeded and BackupDurationSeconds, then the verifier's
 * VerificationFailed and BackupBytes (the failure and anomaly series only when they happen).
 */
export const SERIES_PER_BACKUP_RUN = 4;
/** Series a drilled target adds each day (DaysSinceLastSuccessfulDrill), and each month (the drill's three). */
const DRILL_SERIES_HOURS = 30 + 3;
const HOURS_PER_MONTH = 730;
const DAY_NUMBERS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** How many values one cron field allows over `span` (e.g. 24 hours): lists, ranges, steps, `*`. */
function valuesOf(field: string, span: number): number {
  if (field === '*' || field === '?') return span;
  return field.split(',').reduce((sum, part) => {
    const [range = '', step] = part.split('/');
    const stride = step ? Math.max(1, Number(step)) : 1;
    if (range === '*') return sum + Math.ceil(span / stride);
    const [from, to] = range.split('-').map(Number);
    if (from === undefined || Number.isNaN(from)) return sum + 1;
    const last = to !== undefined && !Number.isNaN(to) ? to : step ? from + span - 1 : from;
    return sum + Math.floor((Math.max(from, last) - from) / stride) + 1;
  }, 0);
}

/** Runs a month of an EventBridge Scheduler expression (`cron(...)` or `rate(...)`); 0 for none. */
export function runsPerMonth(schedule: string | undefined): number {
  if (schedule === undefined) return 0;
  const rate = /^rate\((\d+) (minutes?|hours?|days?)\)$/.exec(schedule.trim());
  if (rate) {
    const hours = Number(rate[1]) * (rate[2]?.startsWith('minute') ? 1 / 60 : rate[2]?.startsWith('hour') ? 1 : 24);
    return HOURS_PER_MONTH / hours;
  }
  const fields = /^cron\((.*)\)$/.exec(schedule.trim())?.[1]?.trim().split(/\s+/);
  if (!fields || fields.length !== 6) return 30;
  const [minutes = '0', hours = '0', dayOfMonth = '*', , dayOfWeek = '?'] = fields;
  const perDay = valuesOf(minutes, 60) * valuesOf(hours, 24);
  const weekdays = dayOfWeek.toUpperCase().replace(/#\d+|L/g, '').replace(/SUN|MON|TUE|WED|THU|FRI|SAT/g, (name) => String(DAY_NUMBERS.indexOf(name) + 1));
  const days = dayOfMonth !== '*' && dayOfMonth !== '?' ? valuesOf(dayOfMonth, 31) : weekdays !== '*' && weekdays !== '?' ? (valuesOf(weekdays, 7) * 30) / 7 : 30;
  return perDay * days;
}

export function metricUsage(config: BackupKitConfig): MetricUsage {
  const tierNames = Object.keys(config.tiers);
  const scheduledTiers = new Set<string>();
  let seriesHours = 0;
  for (const target of config.targets) {
    for (const tier of tiersOfTarget(target, tierNames)) {
      if (tierMaxAgeHours(config, tier) !== undefined) scheduledTiers.add(tier);
      // A series sent in an hour is billed for that hour, once however many values it gets.
      seriesHours += Math.min(runsPerMonth(config.tiers[tier]?.schedule), HOURS_PER_MONTH) * SERIES_PER_BACKUP_RUN;
    }
  }
  const drilled = config.restore.drills.enabled ? config.targets.filter((target) => config.restore.targets[target.name]?.drill ?? true).length + config.restore.drills.rds.length : 0;
  seriesHours += drilled * DRILL_SERIES_HOURS + (drilled > 0 ? 30 : 0);
  // A restore-tested AWS Backup resource: its daily restore test age, and each test's verdict and seconds.
  const watched = watchedManagedResources(config.awsBackup);
  seriesHours += watched.filter((resource) => resource.restoreTestMaxDays !== undefined).length * (30 + 2);
  return { hourlySeries: scheduledTiers.size + watched.length, seriesHoursPerMonth: seriesHours };
}
