import { DescribeInstanceInformationCommand, type InstanceInformation } from '@aws-sdk/client-ssm';
import type { InstanceSelector } from '../../contracts/backup-command';
import { PermissionError, RequestRejectedError, isAccessDenied } from '../../contracts/errors';
import type { RestoreTarget } from '../../contracts/restore-command';
import { backoff, type RestoreJobDeps } from './restore-job';
import { withThrottlingRetry } from './retry';

/**
 * Which instance a restore goes to: exactly one of the target's own, or one it may be restored
 * onto (restore.targets.<target>.onto), as SSM knows them now.
 */

export interface ChosenInstance {
  readonly instanceId: string;
  /** Not one of the target's own instances but one it may be restored onto (the event's `onto`). */
  readonly onto?: true;
  readonly pingStatus: string;
  /** SSM's platform type: Linux, Windows or MacOS. */
  readonly platformType?: string;
  readonly computerName?: string;
  readonly platform?: string;
}

function describe(information: InstanceInformation): ChosenInstance {
  return {
    instanceId: information.InstanceId ?? '',
    pingStatus: information.PingStatus ?? 'Unknown',
    ...(information.ComputerName ? { computerName: information.ComputerName } : {}),
    ...(information.PlatformType ? { platformType: information.PlatformType } : {}),
    ...(information.PlatformName ? { platform: `${information.PlatformName} ${information.PlatformVersion ?? ''}`.trim() } : {}),
  };
}

/** The managed instances a selection finds, as SSM knows them (IDs, or a tag), narrowed to `only` when given. */
async function managedInstances(selection: InstanceSelector, deps: Pick<RestoreJobDeps, 'ssm' | 'retry'>, only?: string): Promise<ChosenInstance[]> {
  const filters =
    'instanceIds' in selection
      ? [{ Key: 'InstanceIds', Values: only !== undefined ? [only] : [...selection.instanceIds] }]
      : [{ Key: `tag:${selection.tag.key}`, Values: [selection.tag.value] }, ...(only !== undefined ? [{ Key: 'InstanceIds', Values: [only] }] : [])];
  const found: ChosenInstance[] = [];
  let nextToken: string | undefined;
  do {
    const page = await withThrottlingRetry(
      () => deps.ssm.send(new DescribeInstanceInformationCommand({ Filters: filters, MaxResults: 50, NextToken: nextToken })),
      backoff(deps),
    ).catch((error: unknown) => {
      if (isAccessDenied(error)) throw new PermissionError('ssm:DescribeInstanceInformation', error);
      throw error;
    });
    found.push(...(page.InstanceInformationList ?? []).map(describe));
    nextToken = page.NextToken;
  } while (nextToken);
  return found;
}

function describeSelection(selection: InstanceSelector): string {
  return 'instanceIds' in selection ? `instance IDs ${selection.instanceIds.join(', ')}` : `tag ${selection.tag.key}=${selection.tag.value}`;
}

function selectorOf(target: RestoreTarget): string {
  return describeSelection(target.backup.instances);
}

/** An instance to restore onto must be one the target's restore settings allow (IDs checked before any call). */
export function checkOntoOfTarget(target: RestoreTarget, onto: string | undefined): void {
  if (onto === undefined) return;
  const name = target.backup.name;
  const allowed = target.restore.onto;
  if (allowed === undefined) {
    throw new RequestRejectedError(
      `onto: '${name}' may be restored only onto its own instances (${selectorOf(target)}); to allow ${onto}, list it in restore.targets.${name}.onto (instance IDs, or a tag) and deploy`,
    );
  }
  if ('instanceIds' in allowed && !allowed.instanceIds.includes(onto)) {
    throw new RequestRejectedError(`onto: ${onto} is not an instance '${name}' may be restored onto (restore.targets.${name}.onto: ${describeSelection(allowed)})`);
  }
}

/**
 * The instance named by `onto`: allowed by the target's restore settings (by ID, or carrying
 * their tag, as SSM sees it now) and managed by SSM.
 */
export async function chooseOntoInstance(target: RestoreTarget, onto: string, deps: Pick<RestoreJobDeps, 'ssm' | 'retry'>): Promise<ChosenInstance> {
  checkOntoOfTarget(target, onto);
  const allowed = target.restore.onto as InstanceSelector;
  const match = (await managedInstances(allowed, deps, onto)).find((instance) => instance.instanceId === onto);
  if (!match) {
    const carrying = 'tag' in allowed ? ` carrying tag ${allowed.tag.key}=${allowed.tag.value}` : '';
    throw new RequestRejectedError(
      `onto: ${onto} is not a managed instance${carrying}: check it runs, its SSM agent is online (Fleet Manager) and its role has the restore instance policy of '${target.backup.name}'`,
    );
  }
  // restore.sh is a bash script for Linux (bash 4.2 or later); SSM says what the instance runs.
  if (match.platformType !== undefined && match.platformType !== 'Linux') {
    throw new RequestRejectedError(`onto: ${onto} runs ${match.platform ?? match.platformType}; the restore runs on Linux instances only`);
  }
  return { ...match, onto: true };
}

/** An instance named by ID must be one of the target's configured IDs (checked before any call). */
export function checkInstanceOfTarget(target: RestoreTarget, instanceId: string | undefined): void {
  if (instanceId !== undefined && 'instanceIds' in target.backup.instances && !target.backup.instances.instanceIds.includes(instanceId)) {
    throw new RequestRejectedError(`instanceId: ${instanceId} is not an instance of '${target.backup.name}' (${selectorOf(target)})`);
  }
}

/**
 * Exactly one instance: the one asked for (which must belong to the target), or the target's
 * only one. A restore never goes to several instances at once.
 */
export async function chooseInstance(target: RestoreTarget, instanceId: string | undefined, deps: Pick<RestoreJobDeps, 'ssm' | 'retry'>): Promise<ChosenInstance> {
  const selector = selectorOf(target);
  checkInstanceOfTarget(target, instanceId);
  const instances = await managedInstances(target.backup.instances, deps);
  if (instanceId !== undefined) {
    const match = instances.find((instance) => instance.instanceId === instanceId);
    if (!match) throw new RequestRejectedError(`instanceId: ${instanceId} is not a managed instance of '${target.backup.name}' (${selector}); check it runs and its SSM agent is online`);
    return match;
  }
  if (instances.length === 0) {
    throw new RequestRejectedError(`no managed instance matches '${target.backup.name}' (${selector}): check the instances run and their SSM agent is online (Fleet Manager)`);
  }
  if (instances.length > 1) {
    throw new RequestRejectedError(
      `instanceId: '${target.backup.name}' matches ${instances.length} instances (${instances.map((instance) => instance.instanceId).join(', ')}); a restore goes to exactly one, so name it with "instanceId"`,
    );
  }
  return instances[0] as ChosenInstance;
}

