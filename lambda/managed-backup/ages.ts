import {
  GetBackupSelectionCommand,
  ListRecoveryPointsByResourceCommand,
  type BackupClient,
  type RecoveryPointByResource,
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
  const late = ages.filter((age) => age.late).map((age) => age.resource);
  deps.logger.info('reported recovery point ages', { resources: ages.length, late });
  // A resource whose age could not be read publishes nothing: its alarm treats that as breaching.
  if (failures.length > 0) throw new Error(`could not read the recovery points of ${failures.length} resource(s): ${failures.join('; ')}`);
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
