import { CustomResource, Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as backup from 'aws-cdk-lib/aws-backup';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { MANAGED_BACKUP_ENV, REPORT_AGES_EVENT, type ManagedBackupSettings } from '../../contracts/managed-backup';
import { SERVICES } from '../../contracts/metric-catalog';
import { HouseFunction } from './house-function';

/** One resource AWS Backup protects whose newest recovery point is watched. */
export interface WatchedRecoveryPoints {
  /** `<kind>:<name>` (contracts/managed-backup.ts managedResourceName). */
  readonly name: string;
  readonly arn: string;
  readonly className: string;
  /** Hours its newest recovery point may be old before the alarm. */
  readonly maxAgeHours: number;
  /**
   * Days its last restore test that passed validation may be old before the alarm.
   * @default - its class is not restore-tested: no such alarm
   */
  readonly restoreTestMaxDays?: number;
  /** The plan and selection that enrol it. */
  readonly plan: backup.BackupPlan;
  readonly selection: backup.BackupSelection;
}

export interface RecoveryPointAgesProps {
  /** The resources to watch; at least one. */
  readonly resources: readonly WatchedRecoveryPoints[];
  /** The primary-region vault whose recovery points count. */
  readonly vaultName: string;
  /** Key of the function's log group. */
  readonly logKey: kms.IKey;
  /**
   * Minute of every hour the report runs at.
   * @default 25 (apart from the kit's other hourly reports)
   */
  readonly minute?: number;
}

/**
 * The hourly report of the managed data's recovery points: a function that publishes, per
 * resource, the hours since its newest good recovery point in the primary vault (or, never backed
 * up, since it was enrolled), run by an hourly rule and once at deploy so its alarms start with
 * data. The alarms are Monitoring's (`monitorRecoveryPointAges`).
 */
export class RecoveryPointAges extends Construct {
  readonly handler: HouseFunction;
  readonly resources: readonly WatchedRecoveryPoints[];
  /** The report at deploy: the age alarms are created after it. */
  readonly reportAtDeploy: CustomResource;

  constructor(scope: Construct, id: string, props: RecoveryPointAgesProps) {
    super(scope, id);
    if (props.resources.length === 0) throw new Error('RecoveryPointAges resources: at least one resource is required');
    const names = props.resources.map((resource) => resource.name);
    const repeated = names.find((name, index) => names.indexOf(name) !== index);
    if (repeated !== undefined) throw new Error(`RecoveryPointAges resources: '${repeated}' is listed twice`);
    const minute = props.minute ?? 25;
    if (!Number.isInteger(minute) || minute < 0 || minute > 59) throw new Error(`RecoveryPointAges minute: must be a whole minute 0-59 (got ${minute})`);
    this.resources = props.resources;
    const stack = Stack.of(this);

    const settings: ManagedBackupSettings = {
      region: stack.region,
      vaultName: props.vaultName,
      resources: props.resources.map((resource) => ({
        name: resource.name,
        arn: resource.arn,
        className: resource.className,
        maxAgeHours: resource.maxAgeHours,
        ...(resource.restoreTestMaxDays !== undefined ? { restoreTestMaxDays: resource.restoreTestMaxDays } : {}),
        backupPlanId: resource.plan.backupPlanId,
        selectionId: resource.selection.selectionId,
      })),
    };
    this.handler = new HouseFunction(this, 'Handler', {
      entry: join(__dirname, '../../lambda/managed-backup/handler.ts'),
      description: 'AWS Backup: hourly age of the newest recovery point of every resource the config protects',
      serviceName: SERVICES.managedBackup,
      logKey: props.logKey,
      timeout: Duration.minutes(5),
      environment: { [MANAGED_BACKUP_ENV.settings]: stack.toJsonString(settings) },
    });
    const role = this.handler.role;
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ListRecoveryPointsOfAResource',
        // The actions have no resource type: IAM takes only '*' for them.
        actions: ['backup:ListRecoveryPointsByResource', ...(props.resources.some((resource) => resource.restoreTestMaxDays !== undefined) ? ['backup:ListRestoreJobsByProtectedResource'] : [])],
        resources: ['*'],
      }),
    );
    const plans = [...new Set(props.resources.map((resource) => resource.plan))];
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadTheEnrollingSelections',
        actions: ['backup:GetBackupSelection'],
        resources: plans.map((plan) => plan.backupPlanArn),
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'backup:ListRecoveryPointsByResource and backup:ListRestoreJobsByProtectedResource have no resource type in IAM, so they take only "*"; they read recovery point and restore job metadata, never data.',
    });

    new events.Rule(this, 'Hourly', {
      description: 'backup-kit: hourly report of the age of every protected resource\'s newest AWS Backup recovery point',
      schedule: events.Schedule.cron({ minute: String(minute) }),
      // Retries, then nothing: a report that does not arrive leaves its alarms without data, which breaches.
      targets: [new eventTargets.LambdaFunction(this.handler.function, { event: events.RuleTargetInput.fromObject(REPORT_AGES_EVENT), retryAttempts: 2, maxEventAge: Duration.minutes(50) })],
    });

    this.reportAtDeploy = new CustomResource(this, 'ReportAtDeploy', {
      serviceToken: this.handler.function.functionArn,
      resourceType: 'Custom::RecoveryPointAgesAtDeploy',
      properties: { Resources: names.join(',') },
    });
    this.reportAtDeploy.node.addDependency(role);
  }
}
