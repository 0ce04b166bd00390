import { gunzipSync, gzipSync } from 'node:zlib';
import * as z from './zod';

/**
 * The targets and tiers the config says must have backups, passed to the planner in one
 * environment variable: `{ "<tier>": ["<target>", ...] }`, gzip+base64 behind a prefix when the
 * JSON would crowd Lambda's 4 KB environment.
 */
export interface ConfiguredTargetTier {
  readonly tier: string;
  readonly target: string;
}

const GZIP_PREFIX = 'gzip:';
const PLAIN_LIMIT = 2048;
const encodedSchema = z.record(z.string(), z.array(z.string()));

export function encodeConfiguredTargets(pairs: readonly ConfiguredTargetTier[]): string {
  const byTier: Record<string, string[]> = {};
  for (const { tier, target } of pairs) (byTier[tier] ??= []).push(target);
  const json = JSON.stringify(byTier);
  return json.length <= PLAIN_LIMIT ? json : `${GZIP_PREFIX}${gzipSync(json, { level: 9 }).toString('base64')}`;
}

export function decodeConfiguredTargets(encoded: string): ConfiguredTargetTier[] {
  const json = encoded.startsWith(GZIP_PREFIX) ? gunzipSync(Buffer.from(encoded.slice(GZIP_PREFIX.length), 'base64')).toString('utf8') : encoded;
  const parsed = encodedSchema.safeParse(JSON.parse(json));
  if (!parsed.success) throw new Error(`environment variable CONFIGURED_TARGETS is invalid: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`);
  return Object.entries(parsed.data).flatMap(([tier, targets]) => targets.map((target) => ({ tier, target })));
}
