import { BackupClient, ListRecoveryPointsByBackupVaultCommand } from '@aws-sdk/client-backup';
import { DBClusterNotFoundFault, DescribeDBClustersCommand, DescribeDBInstanceAutomatedBackupsCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { exampleConfig } from '../../config/example';
import { formatStatus, fullStatusExitCode } from '../../cli/main';
import { gatherManagedStatus } from '../../cli/managed';
import { loadConfig } from '../../lib/config/config';

/** status for the data the kit does not back up itself: RDS point-in-time windows, AWS Backup recovery points. */

const NOW = new Date('2026-12-03T12:00:00Z');
const hoursAgo = (hours: number) => new Date(NOW.getTime() - hours * 3_600_000);
const rds = new RDSClient({ region: 'eu-west-1' });
const backup = new BackupClient({ region: 'eu-west-1' });
const rdsMock = mockClient(rds);
const backupMock = mockClient(backup);
afterAll(() => [rdsMock, backupMock].forEach((mock) => mock.restore()));
beforeEach(() => [rdsMock, backupMock].forEach((mock) => mock.reset()));

const { config } = loadConfig({
  ...exampleConfig,
  rds: { instances: [{ identifier: 'orders-db', objectives: { rpoHours: 1 } }], clusters: [{ identifier: 'billing-aurora' }] },
});

describe('backup-kit status: RDS windows and AWS Backup recovery points', () => {
  it('GIVEN the config\'s databases and AWS Backup resources THEN each is shown against its RPO, and any miss makes the exit code 1', async () => {
    rdsMock.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-db' }).resolves({ DBInstances: [{ DBInstanceIdentifier: 'orders-db', LatestRestorableTime: hoursAgo(0.1) }] });
    rdsMock.on(DescribeDBInstanceAutomatedBackupsCommand).resolves({ DBInstanceAutomatedBackups: [{ RestoreWindow: { EarliestTime: hoursAgo(24 * 7), LatestTime: hoursAgo(0.1) } }] });
    rdsMock.on(DescribeDBClustersCommand).rejects(new DBClusterNotFoundFault({ message: 'DBCluster billing-aurora not found', $metadata: {} }));
    backupMock
      .on(ListRecoveryPointsByBackupVaultCommand, { ByResourceArn: 'arn:aws:rds:eu-west-1:111122223333:db:orders-db' })
      .resolvesOnce({ RecoveryPoints: [{ RecoveryPointArn: 'rp-1', Status: 'COMPLETED', CreationDate: hoursAgo(40) }], NextToken: 'p2' })
      .resolvesOnce({ RecoveryPoints: [{ RecoveryPointArn: 'rp-2', Status: 'COMPLETED', CreationDate: hoursAgo(16) }, { RecoveryPointArn: 'rp-3', Status: 'CREATING', CreationDate: hoursAgo(1) }] });
    backupMock.on(ListRecoveryPointsByBackupVaultCommand, { ByResourceArn: 'arn:aws:s3:::example-team-media' }).resolves({ RecoveryPoints: [{ RecoveryPointArn: 'rp-m', Status: 'COMPLETED', CreationDate: hoursAgo(30) }] });
    backupMock.on(ListRecoveryPointsByBackupVaultCommand, { ByResourceArn: 'arn:aws:rds:eu-west-1:111122223333:cluster:billing-aurora' }).resolves({ RecoveryPoints: [] });

    const managed = await gatherManagedStatus(config, { rds, backup }, NOW);
    expect(managed.databases).toEqual([
      { resource: 'rds:orders-db', objectives: { rpoHours: 1, rtoHours: 2 }, earliest: hoursAgo(24 * 7).toISOString(), latest: hoursAgo(0.1).toISOString(), lagHours: 0.1, rpoMet: true },
      { resource: 'aurora:billing-aurora', objectives: { rpoHours: 24, rtoHours: 2 }, rpoMet: false, problem: 'no such cluster' },
    ]);
    const byName = Object.fromEntries(managed.managed.map((resource) => [resource.resource, resource]));
    expect(byName['rds:orders-db']).toMatchObject({ recoveryPoints: 2, newest: { arn: 'rp-2', ageHours: 16 }, rpoMet: true, className: 'databases' });
    expect(byName['s3:example-team-media']).toMatchObject({ recoveryPoints: 1, newest: { ageHours: 30 }, rpoMet: false, objectives: { rpoHours: 24, rtoHours: 4 } });
    expect(byName['aurora:billing-aurora']).toMatchObject({ recoveryPoints: 0, rpoMet: false });
    expect(backupMock.commandCalls(ListRecoveryPointsByBackupVaultCommand).every((call) => call.args[0].input.BackupVaultName === 'backup-kit-managed')).toBe(true);

    const report = { bucket: 'b', at: NOW.toISOString(), targets: [], ...managed };
    expect(fullStatusExitCode(report)).toBe(1);
    const text = formatStatus(report);
    expect(text).toMatch(/rds:orders-db\s+2026-11-26 12:00Z\s+2026-12-03 11:54Z\s+6 min \/ 1 h\s+met/);
    expect(text).toMatch(/aurora:billing-aurora\s+-\s+no such cluster\s+-\s+MISSED/);
    expect(text).toMatch(/s3:example-team-media\s+media\s+1\s+2026-12-02 06:00Z\s+30 h \/ 24 h\s+MISSED/);
    expect(fullStatusExitCode({ ...report, databases: managed.databases.slice(0, 1), managed: managed.managed.filter((resource) => resource.rpoMet) })).toBe(0);
  });

  it('GIVEN an error other than a missing database THEN status fails rather than report a guess', async () => {
    rdsMock.on(DescribeDBInstancesCommand).rejects(Object.assign(new Error('not authorized to perform rds:DescribeDBInstances'), { name: 'AccessDenied' }));
    rdsMock.on(DescribeDBClustersCommand).resolves({ DBClusters: [] });
    backupMock.on(ListRecoveryPointsByBackupVaultCommand).resolves({ RecoveryPoints: [] });
    await expect(gatherManagedStatus(config, { rds, backup }, NOW)).rejects.toThrow(/not authorized/);
  });
});
