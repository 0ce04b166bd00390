import {
  CreateDBInstanceCommand,
  DescribeDBClustersCommand,
  RestoreDBClusterToPointInTimeCommand,
  type CreateDBInstanceCommandInput,
  type DBCluster,
  type RDSClient,
  type RestoreDBClusterToPointInTimeCommandInput,
  type Tag,
} from '@aws-sdk/client-rds';
import { consoleLinks } from '../../contracts/console-links';
import { RequestRejectedError } from '../../contracts/errors';
import { isoSeconds, restoredClusterInstanceName, restoreTargetPrefix, type RestoreSettings, type RestoreSourceSettings } from '../../contracts/rds';
import type { RestoreRequest } from '../../contracts/rds-restore-event';
import { describeDbClusterIfExists, describeDbInstanceIfExists } from '../shared/rds-instances';
import { awsCall } from '../shared/retry';
import type { Resolved, RestoreDependencies, RestoreEngine } from './core';
import { RESTORE_FAILED, displayPlan, isSameRequest } from './restored';

/**
 * The restore of an Aurora DB cluster to a point in time: a new cluster
 * (RestoreDBClusterToPointInTime, in the source's network, parameter group and key), then one
 * instance per instance of the source, writer first, with the source's classes
 * (`<target>-1`, `<target>-2`, …). Primary region only: Aurora keeps no automated backups in
 * another region. A repeated request finishes the instances a previous run did not create.
 */

/** One instance of the copy, as the source's member it mirrors describes it. */
interface Member {
  readonly instanceClass: string;
  readonly parameterGroupName?: string;
  readonly promotionTier?: number;
}

export async function clusterEngine(request: RestoreRequest, source: RestoreSourceSettings, settings: RestoreSettings, deps: RestoreDependencies): Promise<RestoreEngine> {
  if (request.region === 'dr') {
    throw new RequestRejectedError(
      `region: '${source.identifier}' is an Aurora cluster, and Aurora keeps no automated backups in another region, so it restores in ${settings.primaryRegion} only; with the primary region down, restore its AWS Backup copy in ${settings.drRegion} (the AWS Backup restore function, "region": "dr")`,
    );
  }
  if (request.multiAz) {
    throw new RequestRejectedError(`multiAz: '${source.identifier}' is an Aurora cluster: the copy gets one instance per instance of the source, so it is as highly available as the source`);
  }
  const client = deps.rds.primary;
  const cluster = await describeDbClusterIfExists(client, source.identifier, deps.retry);
  if (!cluster) {
    throw new RequestRejectedError(`source '${source.identifier}' does not exist in ${settings.primaryRegion} as an Aurora cluster. If it was deleted, restore its AWS Backup recovery point with the AWS Backup restore function`);
  }
  if (!cluster.Engine?.startsWith('aurora')) {
    throw new RequestRejectedError(`source '${source.identifier}' is a ${cluster.Engine ?? 'non-Aurora'} cluster: this function restores Aurora clusters only`);
  }
  if (source.kmsKeyArn && cluster.StorageEncrypted && cluster.KmsKeyId !== source.kmsKeyArn) {
    throw new RequestRejectedError(
      `source '${source.identifier}' is encrypted with ${cluster.KmsKeyId ?? 'an unknown key'}, but the config names ${source.kmsKeyArn} (rds.clusters kmsKeyArn): the restore role may use only the configured key. Correct the config and deploy`,
    );
  }
  const securityGroups = (cluster.VpcSecurityGroups ?? []).filter((group) => group.Status === undefined || group.Status === 'active').flatMap((group) => (group.VpcSecurityGroupId ? [group.VpcSecurityGroupId] : []));
  if (!cluster.DBSubnetGroup || securityGroups.length === 0) {
    throw new RequestRejectedError(`source '${source.identifier}' reports no DB subnet group or no active VPC security group; refusing to restore into the default VPC/security group`);
  }
  if (!cluster.EarliestRestorableTime || !cluster.LatestRestorableTime) {
    throw new RequestRejectedError(`source '${source.identifier}' has no restorable window yet (its first automated backup has not finished)`);
  }
  const members = await describeMembers(cluster, request, deps);

  const clusterCall = (resolved: Resolved, tags: Tag[]): RestoreDBClusterToPointInTimeCommandInput => ({
    DBClusterIdentifier: resolved.target,
    SourceDBClusterIdentifier: source.identifier,
    RestoreType: 'full-copy',
    ...(request.restoreTime === 'latest' ? { UseLatestRestorableTime: true } : { RestoreToTime: request.restoreTime }),
    DBSubnetGroupName: cluster.DBSubnetGroup,
    VpcSecurityGroupIds: securityGroups,
    DBClusterParameterGroupName: cluster.DBClusterParameterGroup,
    Port: cluster.Port,
    EnableIAMDatabaseAuthentication: cluster.IAMDatabaseAuthenticationEnabled ?? false,
    EnableCloudwatchLogsExports: cluster.EnabledCloudwatchLogsExports && cluster.EnabledCloudwatchLogsExports.length > 0 ? cluster.EnabledCloudwatchLogsExports : undefined,
    ServerlessV2ScalingConfiguration: cluster.ServerlessV2ScalingConfiguration,
    DeletionProtection: true,
    CopyTagsToSnapshot: true,
    Tags: tags,
  });
  const instanceCalls = (resolved: Resolved, tags: Tag[]): CreateDBInstanceCommandInput[] =>
    members.map((member, position) => ({
      DBInstanceIdentifier: restoredClusterInstanceName(resolved.target, position),
      DBClusterIdentifier: resolved.target,
      Engine: cluster.Engine,
      DBInstanceClass: member.instanceClass,
      DBParameterGroupName: member.parameterGroupName,
      PromotionTier: member.promotionTier,
      PubliclyAccessible: false,
      Tags: tags,
    }));
  /** Creates the instances of the copy that do not exist yet; refuses one of the names taken by something else. */
  const createMissingInstances = async (resolved: Resolved, tags: Tag[]): Promise<string[]> => {
    const created: string[] = [];
    for (const call of instanceCalls(resolved, tags)) {
      const name = call.DBInstanceIdentifier as string;
      const existing = await describeDbInstanceIfExists(client, name, deps.retry);
      if (existing) {
        if (existing.DBClusterIdentifier !== resolved.target) throw new RequestRejectedError(`target: instance '${name}' already exists and is not part of ${resolved.target}: it is never touched. Give another name in "target"`);
        continue;
      }
      await awsCall('rds:CreateDBInstance', () => client.send(new CreateDBInstanceCommand(call)), deps.retry);
      created.push(name);
    }
    return created;
  };

  return {
    basis: {
      regionRole: 'primary',
      region: settings.primaryRegion,
      client,
      window: { earliest: isoSeconds(cluster.EarliestRestorableTime), latest: isoSeconds(cluster.LatestRestorableTime) },
      encryption: cluster.StorageEncrypted ? { encrypted: true, kmsKeyId: cluster.KmsKeyId } : { encrypted: false },
      sourceTags: cluster.TagList ?? [],
    },
    noun: 'cluster',
    plan: (resolved, tags) => ({ ...displayPlan(clusterCall(resolved, tags)), Instances: instanceCalls(resolved, tags).map((call) => displayPlan({ ...call, Tags: undefined })) }),
    findExisting: async (resolved) => {
      const existing = await findExistingCluster(client, resolved, deps);
      return existing && { name: existing.DBClusterIdentifier ?? resolved.target, status: existing.Status ?? 'unknown' };
    },
    start: async (resolved, tags) => {
      // Every instance name is checked before anything is created.
      for (const call of instanceCalls(resolved, tags)) {
        if (await describeDbInstanceIfExists(client, call.DBInstanceIdentifier as string, deps.retry)) {
          throw new RequestRejectedError(`target: instance '${call.DBInstanceIdentifier as string}' already exists in ${resolved.region}: it is never overwritten. Give another name in "target" (starting with '${restoreTargetPrefix(source.identifier)}')`);
        }
      }
      const output = await awsCall('rds:RestoreDBClusterToPointInTime', () => client.send(new RestoreDBClusterToPointInTimeCommand(clusterCall(resolved, tags))), deps.retry);
      await createMissingInstances(resolved, tags);
      return output.DBCluster?.Status ?? 'creating';
    },
    resume: async (resolved, tags) => {
      const created = await createMissingInstances(resolved, tags);
      return created.length > 0 ? [`The instances a previous run left uncreated were created now: ${created.join(', ')}.`] : [];
    },
    link: consoleLinks.rdsCluster,
    creating: (target, region) =>
      `RDS is creating cluster ${target}, then its instances ${members.map((_, position) => restoredClusterInstanceName(target, position)).join(', ')}; this usually takes 15-60 minutes. Watch it: ${consoleLinks.rdsCluster(region, target)}`,
  };
}

/** The source's instances, writer first, with their classes (the request's class, when it gives one). */
async function describeMembers(cluster: DBCluster, request: RestoreRequest, deps: RestoreDependencies): Promise<Member[]> {
  const members = [...(cluster.DBClusterMembers ?? [])].sort((a, b) => Number(b.IsClusterWriter ?? false) - Number(a.IsClusterWriter ?? false));
  if (members.length === 0) {
    throw new RequestRejectedError(`source '${cluster.DBClusterIdentifier ?? '?'}' has no instances, so there is no class to give the copy's: add an instance to it, or restore it from the console`);
  }
  if (members.length > 9) {
    throw new RequestRejectedError(`source '${cluster.DBClusterIdentifier ?? '?'}' has ${members.length} instances; this function recreates at most 9 (the writer and 8 readers): restore it from the console`);
  }
  const described: Member[] = [];
  for (const member of members) {
    const instance = member.DBInstanceIdentifier ? await describeDbInstanceIfExists(deps.rds.primary, member.DBInstanceIdentifier, deps.retry) : undefined;
    const instanceClass = request.instanceClass ?? instance?.DBInstanceClass;
    if (!instanceClass) throw new RequestRejectedError(`instanceClass: the class of '${member.DBInstanceIdentifier ?? '?'}' could not be read; give one`);
    described.push({ instanceClass, parameterGroupName: instance?.DBParameterGroups?.[0]?.DBParameterGroupName, promotionTier: member.PromotionTier });
  }
  return described;
}

/** The cluster that already answers this request, or undefined; a target that exists and is not this request is refused. */
async function findExistingCluster(client: RDSClient, resolved: Resolved, deps: RestoreDependencies): Promise<DBCluster | undefined> {
  const clusters: DBCluster[] = [];
  let marker: string | undefined;
  do {
    const page = await awsCall('rds:DescribeDBClusters', () => client.send(new DescribeDBClustersCommand({ Marker: marker, MaxRecords: 100 })), deps.retry);
    clusters.push(...(page.DBClusters ?? []));
    marker = page.Marker;
  } while (marker);
  const atTarget = clusters.find((cluster) => cluster.DBClusterIdentifier === resolved.target);
  if (atTarget) {
    const status = atTarget.Status ?? 'unknown';
    if (!isSameRequest(atTarget, resolved)) {
      throw new RequestRejectedError(
        `target '${resolved.target}' already exists in ${resolved.region} (status ${status}) and is not this restore: it is never overwritten. Give another name in "target" (starting with '${restoreTargetPrefix(resolved.source.identifier)}')`,
        { target: resolved.target, status },
      );
    }
    if (status === 'deleting' || RESTORE_FAILED.has(status)) {
      throw new RequestRejectedError(`target '${resolved.target}' from this same request is ${status}; see its events in the console, or give another name in "target"`, { target: resolved.target, status });
    }
    return atTarget;
  }
  return clusters.find((cluster) => isSameRequest(cluster, resolved) && cluster.Status === 'creating');
}
