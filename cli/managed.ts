import { ListRecoveryPointsByBackupVaultCommand, type BackupClient } from '@aws-sdk/client-backup';
import { DescribeDBClustersCommand, DescribeDBInstanceAutomatedBackupsCommand, DescribeDBInstancesCommand, type RDSClient } from '@aws-sdk/client-rds';
import { MANAGED_RESOURCE_KINDS, managedResourceName, managedVaultName, type ManagedResourceList } from '../contracts/managed-backup';
import { objectivesFor, type RecoveryObjectives } from '../contracts/objectives';
import type { BackupKitConfig } from '../lib/config/config';
import { hoursBetween } from '../lambda/shared/backup-history';

/**
 * The part of `backup-kit status` about data the kit does not back up itself: each RDS instance
 * and Aurora cluster's point-in-time window (how far back, and how recent, a restore can go), and
 * each AWS Backup resource's newest recovery point, against their RPOs. Reads only (Describe, List).
 */

export interface DatabaseWindow {
  readonly resource: string;
  readonly objectives: RecoveryObjectives;
  /** The point-in-time window, when RDS has one: its earliest and latest restorable times. */
  readonly earliest?: string;
  readonly latest?: string;
  /** Hours between the latest restorable time and now: the data a restore now would lose. */
  readonly lagHours?: number;
  readonly rpoMet: boolean;
  readonly problem?: string;
}

export interface ManagedResourceStatus {
  readonly resource: string;
  readonly className: string;
  readonly objectives: RecoveryObjectives;
  readonly newest?: { readonly arn: string; readonly at: string; readonly ageHours: number };
  readonly recoveryPoints: number;
  readonly rpoMet: boolean;
}

export interface ManagedStatus {
  readonly databases: readonly DatabaseWindow[];
  readonly managed: readonly ManagedResourceStatus[];
}

const notFound = (error: unknown) => /NotFound/.test((error as { name?: string }).name ?? '');

/** A database's window against its RPO, from the times RDS gives (or why there is none). */
function windowOf(resource: string, objectives: RecoveryObjectives, times: { earliest?: Date | undefined; latest?: Date | undefined }, now: Date, noWindow: string): DatabaseWindow {
  const lagHours = times.latest ? hoursBetween(times.latest, now) : undefined;
  return {
    resource,
    objectives,
    ...(times.earliest ? { earliest: times.earliest.toISOString() } : {}),
    ...(times.latest ? { latest: times.latest.toISOString() } : {}),
    ...(lagHours !== undefined ? { lagHours } : {}),
    rpoMet: lagHours !== undefined && lagHours <= objectives.rpoHours,
    ...(times.latest ? {} : { problem: noWindow }),
  };
}

async function instanceWindow(rds: RDSClient, identifier: string, configured: BackupKitConfig['rds']['instances'][number]['objectives'], now: Date): Promise<DatabaseWindow> {
  const objectives = objectivesFor('rds', configured);
  const resource = `rds:${identifier}`;
  try {
    const instance = (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }))).DBInstances?.[0];
    const automated = (await rds.send(new DescribeDBInstanceAutomatedBackupsCommand({ DBInstanceIdentifier: identifier }))).DBInstanceAutomatedBackups ?? [];
    const earliest = automated.map((backup) => backup.RestoreWindow?.EarliestTime).filter((time): time is Date => time !== undefined).sort((a, b) => a.getTime() - b.getTime())[0];
    return windowOf(resource, objectives, { earliest, latest: instance?.LatestRestorableTime }, now, 'no point-in-time window (automated backups off?)');
  } catch (error) {
    if (!notFound(error)) throw error;
    return { resource, objectives, rpoMet: false, problem: 'no such instance' };
  }
}

async function clusterWindow(rds: RDSClient, identifier: string, configured: BackupKitConfig['rds']['clusters'][number]['objectives'], now: Date): Promise<DatabaseWindow> {
  const objectives = objectivesFor('aurora', configured);
  const resource = `aurora:${identifier}`;
  try {
    const cluster = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: identifier }))).DBClusters?.[0];
    return windowOf(resource, objectives, { earliest: cluster?.EarliestRestorableTime, latest: cluster?.LatestRestorableTime }, now, 'no point-in-time window');
  } catch (error) {
    if (!notFound(error)) throw error;
    return { resource, objectives, rpoMet: false, problem: 'no such cluster' };
  }
}

async function newestRecoveryPoint(backup: BackupClient, vault: string, arn: string): Promise<{ count: number; newest?: { arn: string; at: Date } }> {
  let token: string | undefined;
  let count = 0;
  let newest: { arn: string; at: Date } | undefined;
  do {
    const page = await backup.send(new ListRecoveryPointsByBackupVaultCommand({ BackupVaultName: vault, ByResourceArn: arn, NextToken: token }));
    for (const point of page.RecoveryPoints ?? []) {
      if (point.Status !== 'COMPLETED' || !point.CreationDate || !point.RecoveryPointArn) continue;
      count += 1;
      if (!newest || point.CreationDate > newest.at) newest = { arn: point.RecoveryPointArn, at: point.CreationDate };
    }
    token = page.NextToken;
  } while (token);
  return { count, ...(newest ? { newest } : {}) };
}

export async function gatherManagedStatus(config: BackupKitConfig, clients: { readonly rds: RDSClient; readonly backup: BackupClient }, now: Date = new Date()): Promise<ManagedStatus> {
  const databases = await Promise.all([
    ...config.rds.instances.map((instance) => instanceWindow(clients.rds, instance.identifier, instance.objectives, now)),
    ...config.rds.clusters.map((cluster) => clusterWindow(clients.rds, cluster.identifier, cluster.objectives, now)),
  ]);
  const vault = managedVaultName(config.prefix);
  const named = Object.entries(config.awsBackup.classes).flatMap(([className, backupClass]) =>
    (Object.keys(MANAGED_RESOURCE_KINDS) as ManagedResourceList[]).flatMap((list) => backupClass.resources[list].map((resource) => ({ list, resource, className, configured: backupClass.objectives }))),
  );
  const managed = await Promise.all(
    named.map(async ({ list, resource, className, configured }): Promise<ManagedResourceStatus> => {
      const name = managedResourceName(list, resource);
      const objectives = objectivesFor(MANAGED_RESOURCE_KINDS[list], configured);
      const arn = list === 's3Buckets' ? `arn:aws:s3:::${resource}` : resource;
      const { count, newest } = await newestRecoveryPoint(clients.backup, vault, arn);
      const ageHours = newest ? hoursBetween(newest.at, now) : undefined;
      return {
        resource: name,
        className,
        objectives,
        ...(newest && ageHours !== undefined ? { newest: { arn: newest.arn, at: newest.at.toISOString(), ageHours } } : {}),
        recoveryPoints: count,
        rpoMet: ageHours !== undefined && ageHours <= objectives.rpoHours,
      };
    }),
  );
  return { databases, managed };
}
