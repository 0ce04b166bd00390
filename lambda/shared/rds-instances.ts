import { DescribeDBInstancesCommand, type DBInstance, type RDSClient } from '@aws-sdk/client-rds';
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
