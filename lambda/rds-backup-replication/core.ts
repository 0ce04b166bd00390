import {
  DescribeDBInstanceAutomatedBackupsCommand,
  StartDBInstanceAutomatedBackupsReplicationCommand,
  StopDBInstanceAutomatedBackupsReplicationCommand,
  type DBInstance,
  type DBInstanceAutomatedBackup,
  type RDSClient,
} from '@aws-sdk/client-rds';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import * as z from '../../contracts/zod';
import type { CustomResourceResult } from '../shared/cfn-response';
import { describeDbInstanceIfExists } from '../shared/rds-instances';
import { awsCall, type RetryOptions } from '../shared/retry';

/**
 * Cross-region replication of an RDS instance's automated backups (snapshots and transaction
 * logs) to the DR region, as a CloudFormation custom resource: CloudFormation has no resource
 * for it on an instance it does not manage, so this calls StartDBInstanceAutomatedBackupsReplication
 * and, on delete, StopDBInstanceAutomatedBackupsReplication (the replicated backups then stay
 * until their retention ends).
 */

const SOURCE_ARN = /^arn:(aws[a-z-]*):rds:([a-z0-9-]+):(\d{12}):db:([a-z][a-z0-9-]*)$/;

export const replicationPropertiesSchema = z.object({
  SourceDBInstanceArn: z.string().check(z.regex(SOURCE_ARN, 'must be an RDS DB instance ARN')),
  DestinationRegion: z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region')),
  RetentionDays: z.pipe(z.coerce.number(), z.int().check(z.gte(1), z.lte(35))),
  KmsKeyArn: z.pipe(z.optional(z.string()), z.transform((value) => (value === '' ? undefined : value))),
});
export type ReplicationProperties = z.infer<typeof replicationPropertiesSchema>;

export interface ReplicationDependencies {
  /** An RDS client for a region. */
  readonly rdsFor: (region: string) => RDSClient;
  readonly retry?: RetryOptions;
  /** Waits between polls while a replication stops. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** How long to wait for a stopped replication to go away before restarting it. */
  readonly stopTimeoutMs?: number;
  readonly pollIntervalMs?: number;
}

/** The replication's name for CloudFormation: `<source ARN>|<destination region>`. */
export function replicationPhysicalId(properties: Pick<ReplicationProperties, 'SourceDBInstanceArn' | 'DestinationRegion'>): string {
  return `${properties.SourceDBInstanceArn}|${properties.DestinationRegion}`;
}

/** Physical ID of a resource whose create failed: its delete has nothing to undo. */
export function failedCreatePhysicalId(logicalId: string): string {
  return `not-created:${logicalId}`;
}

/** Applies one custom resource event; throws with a message CloudFormation shows when it cannot. */
export async function applyReplicationEvent(event: CloudFormationCustomResourceEvent, deps: ReplicationDependencies): Promise<CustomResourceResult> {
  if (event.RequestType === 'Delete') {
    return deleteReplication(event.PhysicalResourceId, deps);
  }
  const parsed = replicationPropertiesSchema.safeParse(event.ResourceProperties);
  if (!parsed.success) {
    throw new Error(`invalid properties: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return ensureReplication(parsed.data, deps);
}

function parseSourceArn(arn: string): { region: string; identifier: string } {
  const match = SOURCE_ARN.exec(arn);
  if (!match) throw new Error(`'${arn}' is not an RDS DB instance ARN`);
  return { region: match[2] as string, identifier: match[4] as string };
}

function regionOfArn(arn: string): string | undefined {
  return arn.split(':')[3];
}

async function ensureReplication(properties: ReplicationProperties, deps: ReplicationDependencies): Promise<CustomResourceResult> {
  const { region: sourceRegion, identifier } = parseSourceArn(properties.SourceDBInstanceArn);
  const destination = properties.DestinationRegion;
  if (destination === sourceRegion) {
    throw new Error(`${identifier}: the destination region must differ from the source's (${sourceRegion})`);
  }
  const sourceClient = deps.rdsFor(sourceRegion);
  const destinationClient = deps.rdsFor(destination);
  const source = await describeSource(sourceClient, identifier, deps);
  if (!source) {
    throw new Error(`${identifier} does not exist in ${sourceRegion}: remove it from rds.instances or correct its identifier`);
  }
  if (!source.BackupRetentionPeriod) {
    throw new Error(`${identifier} has automated backups turned off (retention 0 days): there is nothing to replicate; turn them on first`);
  }
  if (source.StorageEncrypted && !properties.KmsKeyArn) {
    throw new Error(
      `${identifier} is encrypted: replicated backups need a KMS key in ${destination}; set drReplication.kmsKeyArn on it in rds.instances to a key in ${destination}`,
    );
  }
  const kmsKeyId = source.StorageEncrypted ? properties.KmsKeyArn : undefined;
  const physicalResourceId = replicationPhysicalId(properties);

  const currentArn = replicationArnIn(source, destination);
  if (currentArn) {
    const current = await describeReplicatedBackup(destinationClient, currentArn, deps);
    const sameRetention = current?.BackupRetentionPeriod === properties.RetentionDays;
    const sameKey = !kmsKeyId || current?.KmsKeyId === kmsKeyId;
    if (sameRetention && sameKey) {
      return { physicalResourceId, data: { ReplicatedBackupsArn: currentArn, Action: 'unchanged' } };
    }
    // RDS cannot change a running replication: stop it (its backups stay until their retention ends) and start anew.
    await stop(destinationClient, properties.SourceDBInstanceArn, deps);
    await waitUntilStopped(sourceClient, identifier, destination, deps);
    const restarted = await start(destinationClient, properties, kmsKeyId, deps);
    return { physicalResourceId, data: { ReplicatedBackupsArn: restarted, Action: 'restarted' } };
  }
  const started = await start(destinationClient, properties, kmsKeyId, deps);
  return { physicalResourceId, data: { ReplicatedBackupsArn: started, Action: 'started' } };
}

async function deleteReplication(physicalResourceId: string, deps: ReplicationDependencies): Promise<CustomResourceResult> {
  const [sourceArn, destination] = physicalResourceId.split('|');
  if (!sourceArn || !destination || !SOURCE_ARN.test(sourceArn)) {
    return { physicalResourceId };
  }
  const { region: sourceRegion, identifier } = parseSourceArn(sourceArn);
  const source = await describeSource(deps.rdsFor(sourceRegion), identifier, deps);
  if (source && replicationArnIn(source, destination)) {
    await stop(deps.rdsFor(destination), sourceArn, deps);
  }
  return { physicalResourceId };
}

function replicationArnIn(source: DBInstance, region: string): string | undefined {
  return (source.DBInstanceAutomatedBackupsReplications ?? [])
    .map((replication) => replication.DBInstanceAutomatedBackupsArn)
    .find((arn): arn is string => arn !== undefined && regionOfArn(arn) === region);
}

function describeSource(client: RDSClient, identifier: string, deps: ReplicationDependencies): Promise<DBInstance | undefined> {
  return describeDbInstanceIfExists(client, identifier, deps.retry);
}

async function describeReplicatedBackup(client: RDSClient, arn: string, deps: ReplicationDependencies): Promise<DBInstanceAutomatedBackup | undefined> {
  const output = await awsCall(
    'rds:DescribeDBInstanceAutomatedBackups',
    () => client.send(new DescribeDBInstanceAutomatedBackupsCommand({ DBInstanceAutomatedBackupsArn: arn })),
    deps.retry,
  );
  return output.DBInstanceAutomatedBackups?.[0];
}

async function start(client: RDSClient, properties: ReplicationProperties, kmsKeyId: string | undefined, deps: ReplicationDependencies): Promise<string> {
  const output = await awsCall(
    'rds:StartDBInstanceAutomatedBackupsReplication',
    () =>
      client.send(
        new StartDBInstanceAutomatedBackupsReplicationCommand({
          SourceDBInstanceArn: properties.SourceDBInstanceArn,
          BackupRetentionPeriod: properties.RetentionDays,
          KmsKeyId: kmsKeyId,
        }),
      ),
    deps.retry,
  );
  return output.DBInstanceAutomatedBackup?.DBInstanceAutomatedBackupsArn ?? '';
}

async function stop(client: RDSClient, sourceArn: string, deps: ReplicationDependencies): Promise<void> {
  await awsCall(
    'rds:StopDBInstanceAutomatedBackupsReplication',
    () => client.send(new StopDBInstanceAutomatedBackupsReplicationCommand({ SourceDBInstanceArn: sourceArn })),
    deps.retry,
  );
}

async function waitUntilStopped(client: RDSClient, identifier: string, destination: string, deps: ReplicationDependencies): Promise<void> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const timeout = deps.stopTimeoutMs ?? 10 * 60_000;
  const interval = deps.pollIntervalMs ?? 15_000;
  for (let waited = 0; waited <= timeout; waited += interval) {
    const source = await describeSource(client, identifier, deps);
    if (!source || !replicationArnIn(source, destination)) return;
    await sleep(interval);
  }
  throw new Error(`the replication of ${identifier} to ${destination} did not stop within ${Math.round(timeout / 60_000)} minutes; deploy again to retry`);
}
