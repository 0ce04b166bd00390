import { GetObjectCommand } from '@aws-sdk/client-s3';
import { METRICS } from '../../contracts/metric-catalog';
import { drillExpectedSinceKey, drillRecordKey, drillRecordSchema, rdsDrillTargetName, type DrillRecord } from '../../contracts/restore-command';
import { expectedSince } from '../shared/expected-since';
import { addCatalogMetric, publishCatalogMetrics } from '../shared/powertools';
import { withThrottlingRetry } from '../shared/retry';
import { alert, backoff, drillInstancesOf, finishRdsDrill, type DrillDeps } from './core';

/**
 * The daily drill report (`{ "action": "report" }`): how long since each drilled target's last
 * successful drill, as metrics, and mail when a target becomes late.
 */

export interface DrillReport {
  readonly target: string;
  readonly lastSuccess?: string;
  /** Never drilled successfully: when the kit began to expect a drill, from which the days count. */
  readonly expectedSince?: string;
  readonly daysSinceLastSuccess: number;
}

async function readRecord(target: string, deps: DrillDeps): Promise<DrillRecord | undefined> {
  try {
    const object = await withThrottlingRetry(() => deps.s3.send(new GetObjectCommand({ Bucket: deps.settings.site.bucket, Key: drillRecordKey(target) })), backoff(deps));
    const parsed = drillRecordSchema.safeParse(JSON.parse((await object.Body?.transformToString()) ?? ''));
    return parsed.success ? parsed.data : undefined;
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey' || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** One mail naming the targets whose last successful drill crossed the limit since the last daily report. */
async function alertLateDrills(deps: DrillDeps, reports: readonly DrillReport[]): Promise<void> {
  const limit = deps.settings.alarmAfterDays;
  const late = reports.filter((report) => report.daysSinceLastSuccess > limit);
  // Daily report: crossed since the last one when less than a day past the limit.
  const newlyLate = late.filter((report) => report.daysSinceLastSuccess - limit <= 1);
  if (newlyLate.length === 0) return;
  const line = (report: DrillReport) => `  ${report.target}: ${report.daysSinceLastSuccess} days since ${'lastSuccess' in report ? `its last successful drill (${report.lastSuccess})` : `drills were first expected (${report.expectedSince}), never drilled successfully`}`;
  const stillLate = late.filter((report) => !newlyLate.includes(report));
  deps.logger.error('restore drills overdue', { newlyLate: newlyLate.map((report) => report.target), late: late.length });
  await alert(deps, `backup-kit restore drill overdue: ${newlyLate.map((report) => report.target).join(', ')}`, [
    `No successful restore drill for more than ${limit} days, so these backups are not proven restorable:`,
    ...newlyLate.map(line),
    ...(stillLate.length > 0 ? ['', 'Still overdue since an earlier report:', ...stillLate.map(line)] : []),
    '',
    'What to do: read the last drill alerts and the drill function\'s log for each target, fix the cause, then drill it now from the drill function with {"action":"drill","target":"<target>"}. Runbook: docs/drills.md',
  ]);
}

/**
 * Publishes DaysSinceLastSuccessfulDrill per drilled target (the dashboard) and the largest over
 * all of them (the one alarm). A target never drilled successfully counts from the time the kit
 * began to expect its drills (a marker written on first sight), so a new deployment is quiet
 * until its first drill is overdue; the alarm treats missing data as breaching, so it fires if
 * this report stops running. A target that crossed the limit since yesterday's report is mailed
 * by name, with every other target still past it. RDS drills whose event was missed are
 * finished here.
 */
export async function reportDrills(deps: DrillDeps): Promise<DrillReport[]> {
  const now = deps.now();
  const names = [...deps.settings.targets.filter((target) => target.restore.drill).map((target) => target.backup.name), ...deps.settings.rdsDrills.map((drill) => rdsDrillTargetName(drill.identifier))];
  const reports: DrillReport[] = [];
  for (const name of names) {
    const record = await readRecord(name, deps);
    const since = record
      ? new Date(record.succeededAt)
      : await withThrottlingRetry(
          () => expectedSince({ s3: deps.s3, bucket: deps.settings.site.bucket, key: drillExpectedSinceKey(name), what: `a successful restore drill of '${name}'`, now }),
          backoff(deps),
        );
    const days = Math.floor(((now.getTime() - since.getTime()) / 86_400_000) * 10) / 10;
    deps.metrics.addDimensions({ Target: name });
    addCatalogMetric(deps.metrics, METRICS.daysSinceLastSuccessfulDrill, days);
    deps.metrics.publishStoredMetrics();
    reports.push(record ? { target: name, lastSuccess: record.succeededAt, daysSinceLastSuccess: days } : { target: name, expectedSince: since.toISOString(), daysSinceLastSuccess: days });
  }
  if (reports.length > 0) publishCatalogMetrics(deps.metrics, {}, [[METRICS.daysSinceLastSuccessfulDrill, Math.max(...reports.map((report) => report.daysSinceLastSuccess))]]);
  await alertLateDrills(deps, reports);
  for (const drill of deps.settings.rdsDrills) {
    for (const instance of await drillInstancesOf(drill.identifier, deps)) {
      if (instance.DBInstanceIdentifier) await finishRdsDrill(instance.DBInstanceIdentifier, deps);
    }
  }
  return reports;
}
