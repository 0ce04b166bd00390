import {
  GetBackupSelectionCommand,
  ListRecoveryPointsByResourceCommand,
  ListRestoreJobsByProtectedResourceCommand,
  type BackupClient,
  type RecoveryPointByResource,
  type RestoreJobsListMember,
} from '@aws-sdk/client-backup';
import { METRICS } from '../../contracts/metric-catalog';
import type { ManagedBackupSettings, WatchedResource } from '../../contracts/managed-backup';
import type { Logger, Metrics } from '../shared/powertools';
import { publishCatalogMetrics } from '../shared/powertools';
import { awsCall, type RetryOptions } from '../shared/retry';

/**
 * The hourly report of the data AWS Backup protects: for every resource the config names, the
 * hours since its newest good recovery point in the primary vault, published per resource for
 * its "no recovery point newer than N hours" alarm. AWS Backup's own metrics count jobs per
 * vault and resource type, never per resource, and a plan that silently stops selecting a
 * resource (a renamed bucket, a recreated instance) fails no job at all.
 */

/** Recovery point states that hold restorable data (AVAILABLE is what some types report instead of COMPLETED). */
const GOOD_STATES = new Set(['COMPLETED', 'AVAILABLE']);

export interface AgeDeps {
  readonly backup: BackupClient;
  readonly settings: ManagedBackupSettings;
  readonly metrics: Pick<Metrics, 'singleMetric'>;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
  readonly now: () => Date;
  readonly retry?: RetryOptions;
  /**
   * Also report, per resource its class restore-tests, the days since its last restore test that
   * passed validation, as `DaysSinceLastSuccessfulDrill{Target}` through these (service `drill`)
   * metrics. Once a day is enough, and an hourly series would bill the whole month.
   * @default - not reported
   */
  readonly restoreTests?: { readonly metrics: Pick<Metrics, 'singleMetric'> };
}

/** The days since a resource's last restore test that passed validation. */
export interface RestoreTestAge {
  readonly resource: string;
  readonly ageDays: number;
  readonly maxDays: number;
  readonly late: boolean;
  readonly since: { readonly what: 'restore test'; readonly at: string; readonly restoreJobId: string } | { readonly what: 'enrolled'; readonly at: string };
}

export interface RecoveryPointAge {
  readonly resource: string;
  readonly className: string;
  readonly ageHours: number;
  readonly maxAgeHours: number;
  readonly late: boolean;
  /** What the age counts from: the newest good recovery point, or (none yet) the selection that enrolled the resource. */
  readonly since: { readonly what: 'recovery point'; readonly at: string; readonly recoveryPointArn: string } | { readonly what: 'enrolled'; readonly at: string };
}

/** Reports every watched resource's age; one resource's failure does not hide the others' ages. */
export async function reportRecoveryPointAges(deps: AgeDeps): Promise<RecoveryPointAge[]> {
  const now = deps.now();
  const ages: RecoveryPointAge[] = [];
  const failures: string[] = [];
  // The resources of a class share its selection: read each once per run.
  const enrolments = new Map<string, Promise<Date>>();
  const enrolled = (resource: WatchedResource): Promise<Date> => {
    const id = `${resource.backupPlanId}/${resource.selectionId}`;
    let found = enrolments.get(id);
    if (!found) enrolments.set(id, (found = enrolledAt(resource, deps)));
    return found;
  };
  for (const resource of deps.settings.resources) {
    try {
      ages.push(await ageOf(resource, deps, now, enrolled));
    } catch (error) {
      failures.push(`${resource.name}: ${(error as Error).message}`);
    }
  }
  for (const age of ages) {
    publishCatalogMetrics(deps.metrics, { Resource: age.resource }, [[METRICS.hoursSinceLastRecoveryPoint, age.ageHours]]);
    deps.logger.info('recovery point age', { ...age, ageHours: Math.round(age.ageHours * 10) / 10 });
  }
  if (deps.restoreTests) {
    for (const resource of deps.settings.resources) {
      if (resource.restoreTestMaxDays === undefined) continue;
      try {
        const age = await restoreTestAgeOf(resource, resource.restoreTestMaxDays, deps, now, enrolled);
        publishCatalogMetrics(deps.restoreTests.metrics, { Target: age.resource }, [[METRICS.daysSinceLastSuccessfulDrill, age.ageDays]]);
        deps.logger.info('restore test age', { ...age, ageDays: Math.round(age.ageDays * 10) / 10 });
      } catch (error) {
        failures.push(`${resource.name} (restore tests): ${(error as Error).message}`);
      }
    }
  }
  const late = ages.filter((age) => age.late).map((age) => age.resource);
  deps.logger.info('reported recovery point ages', { resources: ages.length, late });
  // A resource whose age could not be read publishes nothing: its alarm treats that as breaching.
  if (failures.length > 0) throw new Error(`could not read the recovery points or restore tests of ${failures.length} resource(s): ${failures.join('; ')}`);
  return ages;
}

async function ageOf(resource: WatchedResource, deps: AgeDeps, now: Date, enrolled: (resource: WatchedResource) => Promise<Date>): Promise<RecoveryPointAge> {
  const newest = await newestGoodRecoveryPoint(resource, deps);
  const since: RecoveryPointAge['since'] = newest
    ? { what: 'recovery point', at: newest.CreationDate!.toISOString(), recoveryPointArn: newest.RecoveryPointArn ?? 'unknown' }
    : { what: 'enrolled', at: (await enrolled(resource)).toISOString() };
  // A date ahead of the clock (skew) counts as now, never as a negative age.
  const ageHours = Math.max(0, (now.getTime() - Date.parse(since.at)) / 3_600_000);
  return { resource: resource.name, className: resource.className, ageHours, maxAgeHours: resource.maxAgeHours, late: ageHours > resource.maxAgeHours, since };
}

/** The newest recovery point of the resource in the primary vault that holds data, of any page. */
async function newestGoodRecoveryPoint(resource: WatchedResource, deps: AgeDeps): Promise<RecoveryPointByResource | undefined> {
  let newest: RecoveryPointByResource | undefined;
  let token: string | undefined;
  do {
    const page = await awsCall(
      'backup:ListRecoveryPointsByResource',
      () => deps.backup.send(new ListRecoveryPointsByResourceCommand({ ResourceArn: resource.arn, MaxResults: 100, NextToken: token, ManagedByAWSBackupOnly: true })),
      deps.retry,
    );
    for (const point of page.RecoveryPoints ?? []) {
      if (point.BackupVaultName !== deps.settings.vaultName || !GOOD_STATES.has(point.Status ?? '') || !(point.CreationDate instanceof Date)) continue;
      if (!newest || point.CreationDate > newest.CreationDate!) newest = point;
    }
    token = page.NextToken;
  } while (token);
  return newest;
}

/** Days since the newest restore test of the resource that passed validation (or, none yet, since enrolment). */
async function restoreTestAgeOf(resource: WatchedResource, maxDays: number, deps: AgeDeps, now: Date, enrolled: (resource: WatchedResource) => Promise<Date>): Promise<RestoreTestAge> {
  let newest: RestoreJobsListMember | undefined;
  let token: string | undefined;
  do {
    const page = await awsCall(
      'backup:ListRestoreJobsByProtectedResource',
      () => deps.backup.send(new ListRestoreJobsByProtectedResourceCommand({ ResourceArn: resource.arn, ByStatus: 'COMPLETED', MaxResults: 100, NextToken: token })),
      deps.retry,
    );
    for (const job of page.RestoreJobs ?? []) {
      // A restore test (not a restore someone ran) whose copy passed the kit's validation.
      if (!job.CreatedBy?.RestoreTestingPlanArn || job.ValidationStatus !== 'SUCCESSFUL' || !(job.CompletionDate instanceof Date)) continue;
      if (!newest || job.CompletionDate > newest.CompletionDate!) newest = job;
    }
    token = page.NextToken;
  } while (token);
  const since: RestoreTestAge['since'] = newest
    ? { what: 'restore test', at: newest.CompletionDate!.toISOString(), restoreJobId: newest.RestoreJobId ?? 'unknown' }
    : { what: 'enrolled', at: (await enrolled(resource)).toISOString() };
  const ageDays = Math.max(0, (now.getTime() - Date.parse(since.at)) / 86_400_000);
  return { resource: resource.name, ageDays, maxDays, late: ageDays > maxDays, since };
}

/** When the selection that names the resource was created: a resource never backed up is expected from then. */
async function enrolledAt(resource: WatchedResource, deps: AgeDeps): Promise<Date> {
  const selection = await awsCall(
    'backup:GetBackupSelection',
    () => deps.backup.send(new GetBackupSelectionCommand({ BackupPlanId: resource.backupPlanId, SelectionId: resource.selectionId })),
    deps.retry,
  );
  if (!(selection.CreationDate instanceof Date)) throw new Error(`AWS Backup gave no creation date for selection ${resource.selectionId} of plan ${resource.backupPlanId}`);
  return selection.CreationDate;
}
