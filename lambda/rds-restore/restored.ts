import type { Tag } from '@aws-sdk/client-rds';
import { RESTORE_TAGS, isoSeconds } from '../../contracts/rds';
import type { Resolved } from './core';

/**
 * What the restore engines (instances, clusters) share about what they restored: RDS's statuses
 * of a restore under way or failed, the tags that say which request made a resource, and how an
 * answer shows a call's parameters.
 */

/** Statuses of an instance whose restore RDS is still carrying out. */
export const RESTORE_IN_PROGRESS = new Set([
  'creating',
  'configuring-enhanced-monitoring',
  'configuring-iam-database-auth',
  'configuring-log-exports',
]);

/** Statuses in which a restored instance will never become usable. */
export const RESTORE_FAILED = new Set([
  'failed',
  'incompatible-restore',
  'incompatible-parameters',
  'incompatible-network',
  'inaccessible-encryption-credentials',
  'inaccessible-encryption-credentials-recoverable',
  'storage-full',
]);

export function tagValue(resource: { readonly TagList?: Tag[] | undefined }, key: string): string | undefined {
  return resource.TagList?.find((tag) => tag.Key === key)?.Value;
}

export function isSameRequest(resource: { readonly TagList?: Tag[] | undefined }, resolved: Pick<Resolved, 'source' | 'restoreTimeTag'>): boolean {
  return (
    tagValue(resource, RESTORE_TAGS.restoredFrom) === resolved.source.identifier &&
    tagValue(resource, RESTORE_TAGS.restoreTime) === resolved.restoreTimeTag
  );
}

/** The parameters of a call as an answer shows them: no undefined, times as ISO strings. */
export function displayPlan(plan: object): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(plan)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => [key, value instanceof Date ? isoSeconds(value) : value]),
  );
}
