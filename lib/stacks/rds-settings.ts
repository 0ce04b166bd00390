import { Duration } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { BackupKitConfig } from '../config/config';
import type { RdsRestoreSource, RdsRestoreDrTarget } from '../constructs/rds-restore';
import type { ReplicatedInstance } from '../constructs/rds-backup-replication';

/** The config's RDS instances as the restore construct's sources (keys imported by ARN). */
export function rdsRestoreSources(scope: Construct, config: BackupKitConfig): RdsRestoreSource[] {
  return config.rds.instances.map((instance): RdsRestoreSource => {
    const dr = instance.drReplication;
    const drTarget: RdsRestoreDrTarget | undefined = dr && {
      subnetGroupName: dr.subnetGroupName,
      securityGroupIds: dr.securityGroupIds,
      parameterGroupName: dr.parameterGroupName,
      optionGroupName: dr.optionGroupName,
      kmsKey: dr.kmsKeyArn ? kms.Key.fromKeyArn(scope, `RdsDrKey-${instance.identifier}`, dr.kmsKeyArn) : undefined,
    };
    return {
      identifier: instance.identifier,
      kmsKey: instance.kmsKeyArn ? kms.Key.fromKeyArn(scope, `RdsKey-${instance.identifier}`, instance.kmsKeyArn) : undefined,
      dr: drTarget,
    };
  }).concat(
    config.rds.clusters.map((cluster): RdsRestoreSource => ({
      identifier: cluster.identifier,
      kind: 'cluster',
      kmsKey: cluster.kmsKeyArn ? kms.Key.fromKeyArn(scope, `RdsClusterKey-${cluster.identifier}`, cluster.kmsKeyArn) : undefined,
    })),
  );
}

/** The sources whose automated backups the config replicates to the DR region. */
export function rdsReplicatedInstances(sources: readonly RdsRestoreSource[], config: BackupKitConfig): ReplicatedInstance[] {
  return sources.flatMap((source) => {
    const dr = config.rds.instances.find((instance) => instance.identifier === source.identifier)?.drReplication;
    return dr ? [{ identifier: source.identifier, retention: Duration.days(dr.retentionDays), destinationKey: source.dr?.kmsKey, sourceKey: source.kmsKey }] : [];
  });
}
