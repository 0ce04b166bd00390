import { Aws, Validations } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { ManagedResourceList } from '../../contracts/managed-backup';
import type { AwsBackupClass } from '../config/sections/aws-backup';

/** AWS Backup's name of each resource type the config lists, in a restore testing selection. */
const RESTORE_TESTING_TYPES: Readonly<Record<ManagedResourceList, string>> = {
  rdsInstances: 'RDS',
  auroraClusters: 'Aurora',
  s3Buckets: 'S3',
  dynamoDbTables: 'DynamoDB',
  efsFileSystems: 'EFS',
};

/** The most ARNs AWS Backup takes in one restore testing selection. */
const SELECTION_MAX_ARNS = 30;

/** AWS Backup's policies for the role restore testing restores with; the S3 one only where buckets are tested. */
const RESTORE_ROLE_POLICIES = ['service-role/AWSBackupServiceRolePolicyForRestores', 'AWSBackupServiceRolePolicyForS3Restore'] as const;

/**
 * A role only AWS Backup of this account assumes, with AWS Backup's own restore policies (the S3
 * one only when buckets are restored), acknowledged for cdk-nag with `why`.
 */
export function awsBackupRestoreRole(scope: Construct, id: string, options: { readonly description: string; readonly restoresBuckets: boolean; readonly why: string }): iam.Role {
  const policies = RESTORE_ROLE_POLICIES.filter((policy) => options.restoresBuckets || !policy.includes('S3'));
  const role = new iam.Role(scope, id, {
    assumedBy: new iam.ServicePrincipal('backup.amazonaws.com').withConditions({ StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } }),
    description: options.description,
    managedPolicies: policies.map((policy) => iam.ManagedPolicy.fromAwsManagedPolicyName(policy)),
  });
  for (const policy of policies) {
    Validations.of(role).acknowledge({ id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${policy}]`, reason: `AWS Backup's own restore policy: ${options.why}` });
  }
  return role;
}

export interface ManagedRestoreTestingProps {
  /** The data classes; each with restore testing on gets one plan. */
  readonly classes: Readonly<Record<string, AwsBackupClass>>;
  /** The vault whose recovery points are restored (the primary region's). */
  readonly vault: backup.IBackupVault;
  /** The time zone of every schedule. */
  readonly timeZone: string;
  /** Prefix of the plan names (hyphens become underscores: AWS Backup allows letters, digits and underscores). */
  readonly namePrefix: string;
}

/**
 * AWS Backup restore testing: per data class, a plan that on its schedule restores the newest
 * (or a random) recovery point of each resource the class names into a throwaway copy, keeps it for
 * the validation window and deletes it. A restore that fails is a "Restore Job State Change" event
 * the job alerts already mail.
 */
export class ManagedRestoreTesting extends Construct {
  readonly plans: backup.CfnRestoreTestingPlan[] = [];
  readonly selections: backup.CfnRestoreTestingSelection[] = [];
  readonly role?: iam.Role;

  constructor(scope: Construct, id: string, props: ManagedRestoreTestingProps) {
    super(scope, id);
    const tested = Object.entries(props.classes).filter(([, backupClass]) => backupClass.restoreTesting.enabled && resourceListsOf(backupClass).length > 0);
    if (tested.length === 0) return;
    const testsBuckets = tested.some(([, backupClass]) => backupClass.resources.s3Buckets.length > 0);
    this.role = awsBackupRestoreRole(this, 'RestoreRole', {
      description: 'backup-kit: AWS Backup restores the managed data classes into throwaway copies with this role (restore testing)',
      restoresBuckets: testsBuckets,
      why: 'it names the restore calls of every service AWS Backup restores, which AWS keeps current; a hand-made copy would fall behind.',
    });
    const prefix = props.namePrefix.replace(/-/g, '_');
    for (const [className, backupClass] of tested) {
      const testing = backupClass.restoreTesting;
      const planName = `${prefix}_${className.replace(/-/g, '_')}`;
      const plan = new backup.CfnRestoreTestingPlan(this, `Plan-${className}`, {
        restoreTestingPlanName: planName,
        scheduleExpression: testing.schedule,
        scheduleExpressionTimezone: props.timeZone,
        startWindowHours: 8,
        recoveryPointSelection: {
          algorithm: testing.algorithm,
          includeVaults: [props.vault.backupVaultArn],
          recoveryPointTypes: ['SNAPSHOT'],
          selectionWindowDays: testing.selectionWindowDays,
        },
      });
      this.plans.push(plan);
      for (const [list, resources] of resourceListsOf(backupClass)) {
        const type = RESTORE_TESTING_TYPES[list];
        const arns = list === 's3Buckets' ? resources.map((bucket) => `arn:${Aws.PARTITION}:s3:::${bucket}`) : [...resources];
        const baseName = `${type.toLowerCase()}_${className.replace(/-/g, '_')}`;
        // AWS Backup takes at most 30 ARNs in one selection: more make further selections, numbered from 2.
        for (let start = 0, part = 1; start < arns.length; start += SELECTION_MAX_ARNS, part += 1) {
          const suffix = part === 1 ? '' : `_${part}`;
          const network = testing.network && (list === 'rdsInstances' || list === 'auroraClusters') ? testing.network : undefined;
          const selection = new backup.CfnRestoreTestingSelection(this, `Selection-${className}-${type}${part === 1 ? '' : `-${part}`}`, {
            restoreTestingPlanName: planName,
            restoreTestingSelectionName: `${baseName.slice(0, 50 - suffix.length)}${suffix}`,
            protectedResourceType: type,
            protectedResourceArns: arns.slice(start, start + SELECTION_MAX_ARNS),
            iamRoleArn: this.role.roleArn,
            validationWindowHours: testing.validationWindowHours,
            // AWS Backup's keys for an RDS or Aurora copy's network (case does not matter to it); the groups as a JSON list.
            ...(network ? { restoreMetadataOverrides: { dbSubnetGroupName: network.subnetGroupName, vpcSecurityGroupIds: JSON.stringify(network.securityGroupIds) } } : {}),
          });
          selection.addResourceDependency(plan);
          this.selections.push(selection);
        }
      }
    }
  }
}

/** The class's non-empty resource lists named by ARN or bucket name (tag selections cannot be listed). */
function resourceListsOf(backupClass: AwsBackupClass): [ManagedResourceList, readonly string[]][] {
  return (Object.keys(RESTORE_TESTING_TYPES) as ManagedResourceList[])
    .map((list): [ManagedResourceList, readonly string[]] => [list, backupClass.resources[list]])
    .filter(([, resources]) => resources.length > 0);
}
