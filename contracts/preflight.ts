import * as z from './zod';
import { drillCheckSchema } from './restore-command';

/**
 * The preflight of an instance a restore goes onto (restore.sh RS_MODE=check): what it lacks,
 * found without changing anything, as the restore function reads it.
 */

export const PREFLIGHT_RESULT_PREFIX = 'PREFLIGHT_RESULT ';

export const preflightResultSchema = z.looseObject({
  target: z.string(),
  kind: z.string(),
  key: z.string(),
  ready: z.boolean(),
  checks: z.array(drillCheckSchema),
});
export type PreflightScriptResult = z.infer<typeof preflightResultSchema>;

/** How the preflight of one target on the instance ended. */
export interface Preflight {
  readonly target: string;
  /** ready: nothing missing; not ready: see the failed checks; failed: the check itself stopped (see detail); no answer: the instance did not run it in time. */
  readonly status: 'ready' | 'not ready' | 'failed' | 'no answer';
  readonly checks: readonly z.infer<typeof drillCheckSchema>[];
  /** What to do, when not ready. */
  readonly detail?: string;
  readonly commandId?: string;
}

/** The failed checks of a preflight, in one line each: what the engineer fixes before the restore. */
export function preflightProblems(preflight: Preflight): string[] {
  const failed = preflight.checks.filter((check) => check.status === 'failed').map((check) => `${check.name}: ${check.detail}`);
  return preflight.detail !== undefined ? [...failed, preflight.detail] : failed;
}
