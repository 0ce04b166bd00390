import {
  DescribeDBInstanceAutomatedBackupsCommand,
  type DBInstanceAutomatedBackup,
  type RDSClient,
  type RestoreDBInstanceToPointInTimeCommandInput,
  type Tag,
} from '@aws-sdk/client-rds';
import { RequestRejectedError, errorMessage } from '../../contracts/errors';
import { isoSeconds, type RestoreSettings, type RestoreSourceSettings } from '../../contracts/rds';
import { describeDbInstanceIfExists } from '../shared/rds-instances';
import { awsCall } from '../shared/retry';
import type { RestoreRequest } from '../../contracts/rds-restore-event';
import type { Encryption, RestorableWindow, RestoreDependencies } from './core';

/**
 * What a point-in-time restore is based on: the source's settings and restorable window, read
 * from the source in the primary region or, for a DR restore, from its replicated automated
 * backups in the DR region.
 */

const PROVISIONED_IOPS_STORAGE = new Set(['io1', 'io2']);

export interface Basis {
  readonly regionRole: 'primary' | 'dr';
  readonly region: string;
  readonly client: RDSClient;
  readonly window: RestorableWindow;
  readonly encryption: Encryption;
  readonly sourceTags: readonly Tag[];
  /** Everything of the call but the target, the point and the tags. */
  readonly parameters: Omit<RestoreDBInstanceToPointInTimeCommandInput, 'TargetDBInstanceIdentifier'>;
}

/** Primary region: the source instance itself gives the window and every setting the copy keeps. */
export async function primaryBasis(
  request: RestoreRequest,
  source: RestoreSourceSettings,
  settings: RestoreSettings,
  deps: RestoreDependencies,
): Promise<Basis> {
  const client = deps.rds.primary;
  const region = settings.primaryRegion;
  const instance = await describeDbInstanceIfExists(client, source.identifier, deps.retry);
  if (!instance) {
    throw new RequestRejectedError(
      `source '${source.identifier}' does not exist in ${region}. If it was deleted, its retained automated backups can be restored from the RDS console (Automated backups > Retained); if the primary region is down, use "region": "dr"`,
    );
  }
  if (instance.DBClusterIdentifier) {
    throw new RequestRejectedError(
      `source '${source.identifier}' is a member of Aurora cluster '${instance.DBClusterIdentifier}': an Aurora instance is restored with its cluster; list '${instance.DBClusterIdentifier}' in rds.clusters, deploy, and restore the cluster`,
    );
  }
  if (!instance.BackupRetentionPeriod) {
    throw new RequestRejectedError(`source '${source.identifier}' has automated backups turned off (backup retention 0 days): there is no point in time to restore to`);
  }
  if (source.kmsKeyArn && instance.StorageEncrypted && instance.KmsKeyId !== source.kmsKeyArn) {
    throw new RequestRejectedError(
      `source '${source.identifier}' is encrypted with ${instance.KmsKeyId ?? 'an unknown key'}, but the config names ${source.kmsKeyArn} (rds.instances kmsKeyArn): the restore role may use only the configured key. Correct the config and deploy`,
    );
  }
  const subnetGroup = instance.DBSubnetGroup?.DBSubnetGroupName;
  const securityGroups = (instance.VpcSecurityGroups ?? [])
    .filter((group) => group.Status === undefined || group.Status === 'active')
    .flatMap((group) => (group.VpcSecurityGroupId ? [group.VpcSecurityGroupId] : []));
  if (!subnetGroup || securityGroups.length === 0) {
    // Without them RDS would place the copy in the default VPC and security group.
    throw new RequestRejectedError(
      `source '${source.identifier}' reports no DB subnet group or no active VPC security group; refusing to restore into the default VPC/security group`,
    );
  }
  const latest = instance.LatestRestorableTime;
  if (!latest) {
    throw new RequestRejectedError(`source '${source.identifier}' has no latest restorable time yet (its first automated backup has not finished)`);
  }
  const backups = await awsCall('rds:DescribeDBInstanceAutomatedBackups', () =>
    client.send(new DescribeDBInstanceAutomatedBackupsCommand({ DbiResourceId: instance.DbiResourceId })),
    deps.retry,
  );
  const earliest = (backups.DBInstanceAutomatedBackups ?? [])
    .filter((backup) => backup.DbiResourceId === instance.DbiResourceId)
    .map((backup) => backup.RestoreWindow?.EarliestTime)
    .filter((time): time is Date => time instanceof Date)
    .sort((a, b) => a.getTime() - b.getTime())[0];
  if (!earliest) {
    throw new RequestRejectedError(`RDS reports no automated backup for '${source.identifier}' (${instance.DbiResourceId ?? 'unknown resource ID'}): there is no restorable window`);
  }
  const storageType = instance.StorageType;
  return {
    regionRole: 'primary',
    region,
    client,
    window: { earliest: isoSeconds(earliest), latest: isoSeconds(latest) },
    encryption: instance.StorageEncrypted ? { encrypted: true, kmsKeyId: instance.KmsKeyId } : { encrypted: false },
    sourceTags: instance.TagList ?? [],
    parameters: {
      SourceDBInstanceIdentifier: source.identifier,
      DBInstanceClass: request.instanceClass ?? instance.DBInstanceClass,
      MultiAZ: request.multiAz,
      DBSubnetGroupName: subnetGroup,
      VpcSecurityGroupIds: securityGroups,
      DBParameterGroupName: instance.DBParameterGroups?.[0]?.DBParameterGroupName,
      OptionGroupName: instance.OptionGroupMemberships?.[0]?.OptionGroupName,
      Port: instance.Endpoint?.Port ?? instance.DbInstancePort,
      StorageType: storageType,
      Iops: storageType && PROVISIONED_IOPS_STORAGE.has(storageType) ? instance.Iops : undefined,
      EnableIAMDatabaseAuthentication: instance.IAMDatabaseAuthenticationEnabled ?? false,
      PubliclyAccessible: instance.PubliclyAccessible ?? false,
      AutoMinorVersionUpgrade: instance.AutoMinorVersionUpgrade,
      EnableCloudwatchLogsExports:
        instance.EnabledCloudwatchLogsExports && instance.EnabledCloudwatchLogsExports.length > 0 ? instance.EnabledCloudwatchLogsExports : undefined,
      DeletionProtection: true,
      CopyTagsToSnapshot: true,
    },
  };
}

/**
 * DR region: the replicated automated backups give the window and the storage settings; the
 * network comes from the config because the source's subnet group and security groups exist
 * only in the primary region. Works with the primary region down.
 */
export async function drBasis(
  request: RestoreRequest,
  source: RestoreSourceSettings,
  settings: RestoreSettings,
  deps: RestoreDependencies,
  warnings: string[],
): Promise<Basis> {
  const dr = source.dr;
  const region = settings.drRegion;
  if (!dr) {
    throw new RequestRejectedError(
      `source '${source.identifier}' has no DR replication configured, so there are no backups of it in ${region}: set drReplication on it in rds.instances and deploy, or restore in the primary region`,
    );
  }
  const client = deps.rds.dr;
  const found = await awsCall('rds:DescribeDBInstanceAutomatedBackups', () =>
    client.send(new DescribeDBInstanceAutomatedBackupsCommand({ DBInstanceIdentifier: source.identifier })),
    deps.retry,
  );
  const replicated = (found.DBInstanceAutomatedBackups ?? [])
    .filter((backup) => backup.DBInstanceIdentifier === source.identifier && backup.Region === settings.primaryRegion)
    .filter((backup) => backup.DBInstanceAutomatedBackupsArn && backup.RestoreWindow?.EarliestTime && backup.RestoreWindow.LatestTime)
    .sort((a, b) => (b.RestoreWindow?.LatestTime?.getTime() ?? 0) - (a.RestoreWindow?.LatestTime?.getTime() ?? 0));
  const backup: DBInstanceAutomatedBackup | undefined = replicated[0];
  if (!backup?.RestoreWindow?.EarliestTime || !backup.RestoreWindow.LatestTime) {
    throw new RequestRejectedError(
      `there are no replicated automated backups of '${source.identifier}' in ${region} with a restorable window: is replication running? (check with: aws rds describe-db-instance-automated-backups --db-instance-identifier ${source.identifier} --region ${region})`,
    );
  }
  if (backup.Status && backup.Status !== 'replicating') {
    warnings.push(`the replicated backups of ${source.identifier} in ${region} have status '${backup.Status}': replication is not running, so the window ends at ${isoSeconds(backup.RestoreWindow.LatestTime)}`);
  }
  let instanceClass = request.instanceClass;
  if (!instanceClass) {
    // Best effort: with the primary region down, RDS falls back to the class in the backup.
    try {
      instanceClass = (await describeDbInstanceIfExists(deps.rds.primary, source.identifier, deps.retry))?.DBInstanceClass;
    } catch (error) {
      warnings.push(`could not read the source's instance class in ${settings.primaryRegion} (${errorMessage(error)}); RDS uses the class of the original instance`);
    }
  }
  if (!dr.parameterGroupName) {
    warnings.push(`no DR parameter group is configured for ${source.identifier}: the copy gets the engine's default parameter group (set drReplication.parameterGroupName)`);
  }
  const storageType = backup.StorageType;
  return {
    regionRole: 'dr',
    region,
    client,
    window: { earliest: isoSeconds(backup.RestoreWindow.EarliestTime), latest: isoSeconds(backup.RestoreWindow.LatestTime) },
    encryption: backup.Encrypted ? { encrypted: true, kmsKeyId: backup.KmsKeyId ?? dr.kmsKeyArn } : { encrypted: false },
    sourceTags: backup.TagList ?? [],
    parameters: {
      SourceDBInstanceAutomatedBackupsArn: backup.DBInstanceAutomatedBackupsArn,
      DBInstanceClass: instanceClass,
      MultiAZ: request.multiAz,
      DBSubnetGroupName: dr.subnetGroupName,
      VpcSecurityGroupIds: [...dr.securityGroupIds],
      DBParameterGroupName: dr.parameterGroupName,
      OptionGroupName: dr.optionGroupName,
      Port: backup.Port,
      StorageType: storageType,
      Iops: storageType && PROVISIONED_IOPS_STORAGE.has(storageType) ? backup.Iops : undefined,
      EnableIAMDatabaseAuthentication: backup.IAMDatabaseAuthenticationEnabled ?? false,
      PubliclyAccessible: false,
      DeletionProtection: true,
      CopyTagsToSnapshot: true,
    },
  };
}
