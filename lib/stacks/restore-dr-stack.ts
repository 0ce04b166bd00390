import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { BackupKitConfig } from '../config/config';
import { Monitoring } from '../constructs/monitoring';
import type { AlertChannel } from '../constructs/regional-alerts';
import { RestoreJobs } from '../constructs/restore-jobs';
import { restoreJobsSettings, targetsInRegion } from './restore-settings';

export interface RestoreDrStackProps extends StackProps {
  readonly config: BackupKitConfig;
  /** The replica bucket in this region, the restores' only source. */
  readonly replicaBucket: s3.IBucket;
  /** Its key. */
  readonly replicaKey: kms.IKey;
  /** The region's alert topic and the key of the stack's logs and queues, from the replica stack. */
  readonly alertChannel: AlertChannel;
  /**
   * Directory of the instance scripts the restore document embeds.
   * @default - `scripts/instance/` of this repository
   */
  readonly instanceScriptsDir?: string;
}

/**
 * Restores in the DR region, from the replica bucket, for when the primary region is down: the
 * restore document, the restore and result functions (restores onto another instance and
 * rebuilds included), the instance policies for DR-region instances, and alarms on the region's
 * alert topic. Nothing here refers to the primary region: it works while that region is gone.
 * Stateless; no drills (they run in the primary region).
 */
export class RestoreDrStack extends Stack {
  readonly restoreJobs: RestoreJobs;

  constructor(scope: Construct, id: string, props: RestoreDrStackProps) {
    super(scope, id, props);
    const { config } = props;
    const { key: opsKey, topic: alertTopic } = props.alertChannel;
    const monitoring = new Monitoring(this, 'Monitoring', { alertTopic, dashboardName: `${config.prefix}-restore-dr` });
    const settings = restoreJobsSettings(config);
    this.restoreJobs = new RestoreJobs(this, 'RestoreJobs', {
      ...settings,
      targets: targetsInRegion(settings.targets, this.region),
      standaloneInstancePolicies: true,
      // IAM names are global: the DR region's documents and instance policies carry their own prefix.
      namePrefix: `${config.prefix}-dr`,
      backupBucket: props.replicaBucket,
      backupKey: props.replicaKey,
      opsKey,
      alertTopic,
      ...(props.instanceScriptsDir ? { scriptsDir: props.instanceScriptsDir } : {}),
    });
    new CfnOutput(this, 'RestoreConsoleLink', { value: this.restoreJobs.restoreConsoleLink, description: `Test tab of the DR-region restore function (${this.region}): pick a dry-run event, press Test` });
    for (const [target, policy] of this.restoreJobs.instancePolicies) {
      new CfnOutput(Stack.of(policy), `RestorePolicyArn-${target}`, { value: policy.managedPolicyArn, description: `Attach to the role of a ${this.region} instance that restores '${target}' from the replica` });
    }
    monitoring.monitorRestoreJobs(this.restoreJobs);
    monitoring.finish(this);
  }
}
