import { CfnOutput, Stack, TimeZone, type StackProps } from 'aws-cdk-lib';
import type * as backup from 'aws-cdk-lib/aws-backup';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { BackupKitConfig } from '../config/config';
import { STACK_OUTPUTS } from '../../contracts/stack-outputs';
import { tiersOfTarget } from '../config/sections/targets';
import { tierMaxAgeHours } from '../config/sections/verification';
import { tierLockMode } from '../config/schema';
import { AlertTopic } from '../constructs/alert-topic';
import { BackupJobs } from '../constructs/backup-jobs';
import { REPLICATION_RULE_ID } from '../constructs/backup-replication';
import { BackupVerification } from '../constructs/backup-verification';
import { GuardAlerts } from '../constructs/guard-alerts';
import { Monitoring } from '../constructs/monitoring';
import { OpsKey } from '../constructs/ops-key';
import { backupJobsTiers, targetPlans } from './backup-jobs-settings';
import { RdsBackupReplication } from '../constructs/rds-backup-replication';
import { RdsRestore } from '../constructs/rds-restore';
import { S3VersionRestore } from '../constructs/s3-version-restore';
import { guardTrailName, managedVaultArn, managedVaultName, replicaBucketName, verifyWorkerRoleName } from '../naming';
import { ManagedBackupPlans } from '../constructs/managed-backup-plans';
import { ManagedRestoreTesting } from '../constructs/managed-restore-testing';
import { RecoveryPointAges } from '../constructs/recovery-point-ages';
import { ManagedRestore } from '../constructs/managed-restore';
import { DatabaseProbe } from '../constructs/database-probe';
import { EvidenceReport } from '../constructs/evidence-report';
import { objectiveTargets } from '../config/sections/objectives';
import { managedRestoreResources, probedDatabases, protectsManagedData, watchedRecoveryPoints } from './managed-vault-settings';
import { rdsReplicatedInstances, rdsRestoreSources } from './rds-settings';
import { RestoreJobs } from '../constructs/restore-jobs';
import { restoreDrills, restoreJobsSettings } from './restore-settings';

export interface JobsStackProps extends StackProps {
  readonly config: BackupKitConfig;
  /** The primary backup bucket. */
  readonly backupBucket: s3.IBucket;
  /** The primary backup bucket's key. */
  readonly backupKey: kms.IKey;
  /**
   * The primary region's AWS Backup vault of the managed data classes.
   * @default - none: the config protects no managed data
   */
  readonly managedVault?: backup.IBackupVault;
  /**
   * That vault's key, whose deletion or disabling the guard alerts on.
   * @default - none
   */
  readonly managedVaultKey?: kms.IKey;
  /**
   * Directory of the instance scripts the backup and restore documents embed.
   * @default - `scripts/instance/` of this repository
   */
  readonly instanceScriptsDir?: string;
}

/**
 * The primary region's stateless part: every job, schedule, alarm and the dashboard. It can be
 * destroyed and redeployed freely; backups live in the storage stacks.
 */
export class JobsStack extends Stack {
  readonly opsKey: OpsKey;
  readonly alerts: AlertTopic;
  /** Alarms and the dashboard: every job registers its functions and queues here. */
  readonly monitoring: Monitoring;
  readonly verification: BackupVerification;
  /** Scheduled EC2 backups; absent when the config has no targets. */
  readonly backupJobs?: BackupJobs;
  /** RDS point-in-time restore, when the config allowlists RDS instances. */
  readonly rdsRestore?: RdsRestore;
  /** Restores and drills of the EC2 targets; absent when the config has no targets. */
  readonly restoreJobs?: RestoreJobs;
  /** Replication of RDS automated backups to the DR region, when the config asks for it. */
  readonly rdsBackupReplication?: RdsBackupReplication;
  /** AWS Backup plans of the managed data classes, when the config names any. */
  readonly managedBackup?: ManagedBackupPlans;
  /** AWS Backup restore testing of the managed data classes. */
  readonly restoreTesting?: ManagedRestoreTesting;
  /** The hourly recovery point age report of the managed data named by ARN or bucket name. */
  readonly recoveryPointAges?: RecoveryPointAges;
  readonly managedRestore?: ManagedRestore;
  /** Runs the SQL probes of restore test copies, when the config gives any. */
  readonly databaseProbe?: DatabaseProbe;
  /** The monthly evidence report, when there are backup targets. */
  readonly evidenceReport?: EvidenceReport;

  constructor(scope: Construct, id: string, props: JobsStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.opsKey = new OpsKey(this, 'OpsKey');
    this.alerts = new AlertTopic(this, 'Alerts', { key: this.opsKey.key, emails: config.alertEmails });
    this.monitoring = new Monitoring(this, 'Monitoring', { alertTopic: this.alerts.topic, dashboardName: `${config.prefix}-backups` });
    const isolated = config.replication.isolatedAccount;
    const replicaBucket = replicaBucketName(config.prefix, config.drRegion, isolated);
    if (config.guard.alerts) {
      const guard = new GuardAlerts(this, 'GuardAlerts', {
        resources: {
          bucketNames: [props.backupBucket.bucketName],
          keyArns: [props.backupKey.keyArn, ...(props.managedVaultKey ? [props.managedVaultKey.keyArn] : [])],
          trailName: guardTrailName(config.prefix),
          ...(protectsManagedData(config) ? { vaultNames: [managedVaultName(config.prefix)] } : {}),
        },
        alertTopic: this.alerts.topic,
        forwardedFromRegions: [config.drRegion],
        ...(isolated !== undefined ? { forwardingAccount: isolated } : {}),
        queueKey: this.opsKey.key,
      });
      this.monitoring.addDeadLetterQueue(guard.deadLetterQueue, 'guard alerts');
    }

    const tierAges = Object.fromEntries(
      Object.keys(config.tiers).flatMap((tier) => {
        const hours = tierMaxAgeHours(config, tier);
        return hours === undefined ? [] : [[tier, hours] as const];
      }),
    );
    // Every configured target in every scheduled tier it takes part in must have verified backups.
    const scheduledPairs = config.targets.flatMap((target) =>
      tiersOfTarget(target, Object.keys(config.tiers))
        .filter((tier) => tier in tierAges)
        .map((tier) => ({ target: target.name, tier })),
    );
    this.verification = new BackupVerification(this, 'Verification', {
      bucket: props.backupBucket,
      backupKey: props.backupKey,
      replicaBucketName: replicaBucket,
      replicaRegion: config.drRegion,
      ...(isolated !== undefined ? { workerRoleName: verifyWorkerRoleName(config.prefix) } : {}),
      opsKey: this.opsKey.key,
      alertTopic: this.alerts.topic,
      timeZone: config.timeZone,
      schedule: config.verification.schedule,
      workerMemoryMiB: config.verification.workerMemoryMiB,
      maxConcurrency: config.verification.maxConcurrency,
      configuredTargets: scheduledPairs,
      settings: {
        tierMaxAgeHours: tierAges,
        tierLockModes: Object.fromEntries(Object.keys(config.tiers).map((tier) => [tier, tierLockMode(config, tier)])),
        tierRetentionDays: Object.fromEntries(Object.entries(config.tiers).map(([tier, settings]) => [tier, settings.retentionDays])),
        sizeAnomaly: config.verification.sizeAnomaly,
        replicationAllowanceMinutes: config.verification.replicationAllowanceMinutes,
        sqliteIntegrityCheckMaxBytes: config.verification.sqliteIntegrityCheckMaxMiB * 2 ** 20,
        maxObjectBytes: Math.floor(config.verification.maxObjectGiB * 2 ** 30),
      },
    });
    this.monitoring.addLambda(this.verification.planner.function, 'verify planner');
    this.monitoring.addLambda(this.verification.worker.function, 'verify worker');
    this.monitoring.addDeadLetterQueue(this.verification.deadLetterQueue, 'verify worker');
    this.monitoring.addDeadLetterQueue(this.verification.scheduleDeadLetterQueue, 'verify schedules');
    // An age alarm per scheduled tier and one alarm per condition, whatever the number of targets.
    for (const tier of new Set(scheduledPairs.map((pair) => pair.tier))) this.monitoring.addTierAge(tier, tierAges[tier] ?? 0);
    if (config.targets.length > 0) this.monitoring.addBackupConditions();
    this.monitoring.showAgeTable(this.verification.planner.logGroup);
    this.monitoring.startAgeAlarmsAfter(this.verification.agesAtDeploy);
    if (config.replication.metrics) {
      this.monitoring.addReplication({
        sourceBucketName: props.backupBucket.bucketName,
        destinationBucketName: replicaBucket,
        ruleId: REPLICATION_RULE_ID,
      });
    }

    if (config.targets.length > 0) {
      const backups = new BackupJobs(this, 'BackupJobs', {
        namePrefix: config.prefix,
        targets: targetPlans(config),
        tiers: backupJobsTiers(config),
        timeZone: TimeZone.of(config.timeZone),
        backupBucket: props.backupBucket,
        backupKey: props.backupKey,
        opsKey: this.opsKey.key,
        alertTopic: this.alerts.topic,
        ...(props.instanceScriptsDir ? { scriptsDir: props.instanceScriptsDir } : {}),
      });
      new CfnOutput(this, 'BackupTriggerFunctionName', { value: backups.trigger.function.functionName, description: 'Invoke with {"tier":"manual","target":"<name>"} to back up now' });
      new CfnOutput(this, 'BackupTriggerConsoleLink', { value: backups.triggerConsoleLink, description: 'Test tab of the backup trigger: paste the event, press Test' });
      for (const [target, policy] of backups.instancePolicies) {
        // Beside the policy, in its nested stack: outputs per target would pass the parent's 200.
        new CfnOutput(Stack.of(policy.policy), `BackupPolicyArn-${target}`, { value: policy.policy.managedPolicyArn, description: `Attach to the instance role of '${target}' (with AmazonSSMManagedInstanceCore)` });
      }
      this.monitoring.monitorBackupJobs(backups);
      this.backupJobs = backups;

      const restores = new RestoreJobs(this, 'RestoreJobs', {
        ...restoreJobsSettings(config),
        namePrefix: config.prefix,
        backupBucket: props.backupBucket,
        backupKey: props.backupKey,
        opsKey: this.opsKey.key,
        alertTopic: this.alerts.topic,
        drills: restoreDrills(this, config),
        ...(props.instanceScriptsDir ? { scriptsDir: props.instanceScriptsDir } : {}),
      });
      new CfnOutput(this, 'RestoreConsoleLink', { value: restores.restoreConsoleLink, description: 'Test tab of the restore function: pick a dry-run event, press Test' });
      new CfnOutput(this, STACK_OUTPUTS.restoreFunctionName, { value: restores.restoreFunction.function.functionName, description: 'The restore function, which npx backup-kit restore invokes' });
      for (const [target, policy] of restores.instancePolicies) {
        new CfnOutput(Stack.of(policy), `RestorePolicyArn-${target}`, { value: policy.managedPolicyArn, description: `Attach to the instance role that restores '${target}'` });
      }
      this.monitoring.monitorRestoreJobs(restores);
      this.restoreJobs = restores;
    }

    const reported = objectiveTargets(config);
    if (reported.length > 0) {
      this.evidenceReport = new EvidenceReport(this, 'EvidenceReport', {
        targets: reported,
        databases: [...config.rds.instances.map((instance) => ({ identifier: instance.identifier, kind: 'instance' as const })), ...config.rds.clusters.map((cluster) => ({ identifier: cluster.identifier, kind: 'cluster' as const }))],
        prefix: config.prefix,
        bucket: props.backupBucket,
        bucketKey: props.backupKey,
        alertTopic: this.alerts.topic,
        opsKey: this.opsKey.key,
        timeZone: config.timeZone,
      });
      this.monitoring.addDeadLetterQueue(this.evidenceReport.deadLetterQueue, 'evidence report');
    }

    if (config.rds.instances.length + config.rds.clusters.length > 0) {
      const sources = rdsRestoreSources(this, config);
      this.rdsRestore = new RdsRestore(this, 'RdsRestore', { sources, drRegion: config.drRegion, logKey: this.opsKey.key, alertTopic: this.alerts.topic });
      new CfnOutput(this, STACK_OUTPUTS.rdsRestoreFunctionName, { value: this.rdsRestore.restoreFunction.function.functionName, description: 'The RDS point-in-time restore function, which npx backup-kit rds-restore invokes' });
      this.monitoring.addLambda(this.rdsRestore.restoreFunction.function, 'rds restore');
      this.monitoring.addLambda(this.rdsRestore.completionFunction.function, 'rds restore completion');
      this.monitoring.addDeadLetterQueue(this.rdsRestore.deadLetterQueue, 'rds restore completion');
      const replicated = rdsReplicatedInstances(sources, config);
      if (replicated.length > 0) {
        const replication = new RdsBackupReplication(this, 'RdsBackupReplication', { destinationRegion: config.drRegion, logKey: this.opsKey.key });
        replicated.forEach((instance) => replication.addInstance(instance));
        this.monitoring.addLambda(replication.handler.function, 'rds backup replication');
        this.rdsBackupReplication = replication;
      }
    }

    if (config.mediaBuckets.length > 0) {
      const versionRestore = new S3VersionRestore(this, 'S3VersionRestore', {
        mediaBuckets: S3VersionRestore.bucketsFromConfig(this, config.mediaBuckets, config.primaryRegion),
        logKey: this.opsKey.key,
      });
      this.monitoring.addLambda(versionRestore.handler.function, 's3 version restore');
    }

    if (protectsManagedData(config)) {
      if (!props.managedVault) throw new Error('JobsStack managedVault: the config protects managed data (awsBackup.classes), so the storage stack\'s vault is required');
      this.managedBackup = new ManagedBackupPlans(this, 'ManagedBackup', {
        classes: config.awsBackup.classes,
        timeZone: config.timeZone,
        vault: props.managedVault,
        drVaultArn: managedVaultArn(config.prefix, config.drRegion),
        ...(isolated !== undefined ? { isolatedVaultArn: managedVaultArn(config.prefix, config.primaryRegion, isolated) } : {}),
        alertTopic: this.alerts.topic,
        queueKey: this.opsKey.key,
        namePrefix: config.prefix,
      });
      this.monitoring.addDeadLetterQueue(this.managedBackup.deadLetterQueue, 'AWS Backup job alerts');
      this.restoreTesting = new ManagedRestoreTesting(this, 'ManagedRestoreTesting', {
        classes: config.awsBackup.classes,
        vault: props.managedVault,
        timeZone: config.timeZone,
        namePrefix: config.prefix,
      });
      const watched = watchedRecoveryPoints(config, this.managedBackup);
      if (watched.length > 0) {
        this.recoveryPointAges = new RecoveryPointAges(this, 'RecoveryPointAges', { resources: watched, vaultName: managedVaultName(config.prefix), logKey: this.opsKey.key });
        this.monitoring.monitorRecoveryPointAges(this.recoveryPointAges);
      }
      const probed = probedDatabases(config);
      const probeNetwork = config.awsBackup.probeNetwork;
      if (probed.length > 0 && probeNetwork) {
        this.databaseProbe = new DatabaseProbe(this, 'DatabaseProbe', { databases: probed, subnetIds: probeNetwork.subnetIds, securityGroupIds: probeNetwork.securityGroupIds, logKey: this.opsKey.key });
      }
      const restorable = managedRestoreResources(this, config);
      if (restorable.length > 0) {
        this.managedRestore = new ManagedRestore(this, 'ManagedRestore', {
          resources: restorable,
          vaultName: managedVaultName(config.prefix),
          drRegion: config.drRegion,
          logKey: this.opsKey.key,
          alertTopic: this.alerts.topic,
          ...(this.restoreTesting?.role ? { restoreTestingRole: this.restoreTesting.role } : {}),
          ...(this.databaseProbe ? { databaseProbe: this.databaseProbe } : {}),
        });
        this.monitoring.monitorManagedRestores(this.managedRestore);
      }
    }

    // Last: any function not registered above (CDK's custom-resource helpers included), then the dashboard.
    this.monitoring.finish(this);
  }
}
