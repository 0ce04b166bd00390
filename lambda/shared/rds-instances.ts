import { DescribeDBClustersCommand, DescribeDBInstancesCommand, type DBCluster, type DBInstance, type RDSClient } from '@aws-sdk/client-rds';
import { awsCall, type RetryOptions } from './retry';

/** The DB instance, or `undefined` when it does not exist; throttling retried, AccessDenied named. */
export async function describeDbInstanceIfExists(client: RDSClient, identifier: string, retry?: RetryOptions): Promise<DBInstance | undefined> {
  try {
    const output = await awsCall('rds:DescribeDBInstances', () => client.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier })), retry);
    return output.DBInstances?.[0];
  } catch (error) {
    if ((error as { name?: string }).name === 'DBInstanceNotFoundFault') return undefined;
    throw error;
  }
}

/** The DB cluster, or `undefined` when it does not exist; throttling retried, AccessDenied named. */
export async function describeDbClusterIfExists(client: RDSClient, identifier: string, retry?: RetryOptions): Promise<DBCluster | undefined> {
  try {
    const output = await awsCall('rds:DescribeDBClusters', () => client.send(new DescribeDBClustersCommand({ DBClusterIdentifier: identifier })), retry);
    return output.DBClusters?.[0];
  } catch (error) {
    if ((error as { name?: string }).name === 'DBClusterNotFoundFault') return undefined;
    throw error;
  }
}
