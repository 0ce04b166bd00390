import { Aws, Duration, TimeZone, Validations } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { alertDeadLetterQueue, alertTopicTarget } from './alert-rules';
import type { AwsBackupClass } from '../config/sections/aws-backup';

/** The job states worth an alert: the recovery point is missing, partial or was never copied. */
export const ALERTED_JOB_STATES = ['FAILED', 'ABORTED', 'EXPIRED', 'PARTIAL'] as const;
/** AWS Backup's policies for the role it backs up with; the S3 one only where buckets are protected. */
const SERVICE_ROLE_POLICIES = ['service-role/AWSBackupServiceRolePolicyForBackup', 'AWSBackupServiceRolePolicyForS3Backup'] as const;

/** Each job event AWS Backup sends, and the field of its job ID. */
export const ALERTED_JOB_EVENTS = { backup: ['Backup Job State Change', 'backupJobId'], copy: ['Copy Job State Change', 'copyJobId'], restore: ['Restore Job State Change', 'restoreJobId'] } as const;

export interface ManagedBackupPlansProps {
  /** The data classes, each one plan. */
  readonly classes: Readonly<Record<string, AwsBackupClass>>;
  /** The time zone of every rule's schedule. */
  readonly timeZone: string;
  /** The vault of this region, where every rule writes. */
  readonly vault: backup.IBackupVault;
  /** ARN of the DR region's vault, where rules with `copyToDr` copy. */
  readonly drVaultArn: string;
  /**
   * ARN of the isolated account's vault, where rules with `copyToIsolatedAccount` copy.
   * @default - no copy to another account
   */
  readonly isolatedVaultArn?: string;
  /** Where failed, aborted, expired and partial jobs are announced. */
  readonly alertTopic: sns.ITopic;
  /** Key of the dead-letter queue of those announcements. */
  readonly queueKey: kms.IKey;
  /** Prefix of the plan names. */
  readonly namePrefix: string;
}

/**
 * One AWS Backup plan per data class: its rules (schedule in the config's time zone, retention,
 * cold storage, continuous backup, a copy to the DR vault), one selection of the class's resources
 * backed up by one service role, and an alert for every job that fails, is aborted, expires or
 * ends partial.
 */
export class ManagedBackupPlans extends Construct {
  readonly plans: backup.BackupPlan[] = [];
  /** Each class's plan and the selection that enrols its resources. */
  readonly classes = new Map<string, { readonly plan: backup.BackupPlan; readonly selection: backup.BackupSelection }>();
  readonly role: iam.Role;
  /** Alerts SNS did not take after retries; watch it. */
  readonly deadLetterQueue: sqs.Queue;
  readonly jobAlerts: events.Rule[] = [];

  constructor(scope: Construct, id: string, props: ManagedBackupPlansProps) {
    super(scope, id);
    const classes = Object.entries(props.classes);
    if (classes.length === 0) throw new Error('ManagedBackupPlans classes: at least one class is required');
    const protectsS3 = classes.some(([, backupClass]) => backupClass.resources.s3Buckets.length > 0 || backupClass.resources.tags.length > 0);

    this.role = new iam.Role(this, 'ServiceRole', {
      assumedBy: new iam.ServicePrincipal('backup.amazonaws.com').withConditions({ StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } }),
      description: 'backup-kit: AWS Backup backs up and copies the managed data classes with this role',
      managedPolicies: [
        ...SERVICE_ROLE_POLICIES.filter((policy) => protectsS3 || !policy.includes('S3')).map((policy) => iam.ManagedPolicy.fromAwsManagedPolicyName(policy)),
      ],
    });
    for (const policy of SERVICE_ROLE_POLICIES.filter((name) => protectsS3 || !name.includes('S3'))) {
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${policy}]`,
        reason: "AWS Backup's own service-role policy: it names the snapshot and copy calls of every service AWS Backup backs up, which AWS keeps current as services change; a hand-made copy would fall behind.",
      });
    }

    const drVault = backup.BackupVault.fromBackupVaultArn(this, 'DrVault', props.drVaultArn);
    const isolatedVault = props.isolatedVaultArn !== undefined ? backup.BackupVault.fromBackupVaultArn(this, 'IsolatedVault', props.isolatedVaultArn) : undefined;
    for (const [className, backupClass] of classes) {
      const plan = new backup.BackupPlan(this, `Plan-${className}`, { backupPlanName: `${props.namePrefix}-${className}`, backupVault: props.vault });
      for (const [ruleName, rule] of Object.entries(backupClass.rules)) {
        const deleteAfter = Duration.days(rule.retentionDays);
        const moveToColdStorageAfter = rule.coldStorageAfterDays !== undefined ? Duration.days(rule.coldStorageAfterDays) : undefined;
        plan.addRule(
          new backup.BackupPlanRule({
            ruleName,
            scheduleExpression: events.Schedule.expression(rule.schedule),
            scheduleExpressionTimezone: TimeZone.of(props.timeZone),
            deleteAfter,
            ...(moveToColdStorageAfter ? { moveToColdStorageAfter } : {}),
            enableContinuousBackup: rule.continuous,
            ...copyActionsOf([...(rule.copyToDr ? [drVault] : []), ...(rule.copyToIsolatedAccount && isolatedVault ? [isolatedVault] : [])], deleteAfter, moveToColdStorageAfter),
          }),
        );
      }
      const resources = backupClass.resources;
      const selection = plan.addSelection('Selection', {
        backupSelectionName: `${props.namePrefix}-${className}`,
        role: this.role,
        resources: [
          ...[...resources.rdsInstances, ...resources.auroraClusters, ...resources.dynamoDbTables, ...resources.efsFileSystems].map((arn) => backup.BackupResource.fromArn(arn)),
          ...resources.s3Buckets.map((bucket) => backup.BackupResource.fromArn(`arn:${Aws.PARTITION}:s3:::${bucket}`)),
          ...resources.tags.map((tag) => backup.BackupResource.fromTag(tag.key, tag.value)),
        ],
      });
      this.plans.push(plan);
      this.classes.set(className, { plan, selection });
    }

    this.deadLetterQueue = alertDeadLetterQueue(this, props.queueKey, 'AWS Backup job alerts');
    for (const [kind, [detailType, jobIdField]] of Object.entries(ALERTED_JOB_EVENTS)) {
      this.jobAlerts.push(
        new events.Rule(this, `JobAlerts-${kind}`, {
          description: `backup-kit: alert on AWS Backup ${kind} jobs that end ${ALERTED_JOB_STATES.join(', ')}`,
          eventPattern: { source: ['aws.backup'], detailType: [detailType], detail: { state: [...ALERTED_JOB_STATES] } },
          targets: [alertTopicTarget(props.alertTopic, jobAlertMessage(jobIdField), this.deadLetterQueue)],
        }),
      );
    }
  }
}

/** Copies of every recovery point of a rule, with the rule's lifecycle, to each vault. */
function copyActionsOf(vaults: readonly backup.IBackupVault[], deleteAfter: Duration, moveToColdStorageAfter: Duration | undefined): Pick<backup.BackupPlanRuleProps, 'copyActions'> {
  if (vaults.length === 0) return {};
  return { copyActions: vaults.map((destinationBackupVault) => ({ destinationBackupVault, deleteAfter, ...(moveToColdStorageAfter ? { moveToColdStorageAfter } : {}) })) };
}

/** The alert text: which job, on what, how it ended, why, and where the next step is written. */
function jobAlertMessage(jobIdField: string): events.RuleTargetInput {
  const field = events.EventField.fromPath;
  return events.RuleTargetInput.fromMultilineText(
    [
      `backup-kit: AWS Backup ${field('$.detail-type')}: ${field('$.detail.state')} in ${field('$.region')} at ${field('$.time')}`,
      `resource: ${field('$.detail.resourceArn')} (${field('$.detail.resourceType')})`,
      `job: ${field(`$.detail.${jobIdField}`)}, vault ${field('$.detail.backupVaultName')}`,
      `AWS Backup says: ${field('$.detail.statusMessage')}`,
      'Next: docs/aws-backup.md, "A job failed" (the newest good recovery point, the cause, a backup on demand).',
    ].join('\n'),
  );
}
