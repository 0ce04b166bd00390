import * as z from './zod';
import { parseEventWith } from './errors';
import { RESTORE_TEST_PREFIX } from './managed-restore';

/**
 * The contract of the database probe function: SQL a restore test's copy of an RDS database must
 * answer. The function runs in the VPC of the copies and signs in with IAM database
 * authentication; the statements, database and user are its own settings (from the config), so a
 * caller chooses only which configured database to probe and where its copy is, and only AWS
 * Backup's test copies are reached. Pure: no SDK, no CDK.
 */

export const DATABASE_PROBE_ENV = {
  /** JSON of `DatabaseProbeSettings`. */
  settings: 'DATABASE_PROBE_SETTINGS',
} as const;

/** The database user a probe signs in as unless the config names another. */
export const DEFAULT_PROBE_USER = 'backup_probe';
export const PROBE_LIMITS = { statements: 10, statementChars: 1000 } as const;
/** How long the probe waits for a connection, and for each statement. */
export const PROBE_TIMEOUTS_MS = { connect: 10_000, statement: 20_000 } as const;

/** The engines a probe speaks, by the wire protocol of the RDS engine. */
export const PROBE_PROTOCOLS = ['postgres', 'mysql'] as const;
export type ProbeProtocol = (typeof PROBE_PROTOCOLS)[number];

/** The protocol of an RDS engine name (`postgres`, `aurora-mysql`, …), or undefined for one a probe cannot speak. */
export function probeProtocolOf(engine: string | undefined): ProbeProtocol | undefined {
  if (engine === 'postgres' || engine === 'aurora-postgresql') return 'postgres';
  if (engine === 'mysql' || engine === 'mariadb' || engine === 'aurora-mysql' || engine === 'aurora') return 'mysql';
  return undefined;
}

/** A statement holds when it returns a row whose first value is not false, 0 or NULL (the drills' rule). */
export function probeValueHolds(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === 0n) return false;
  if (typeof value === 'string' && /^(0|f|false|null)$/i.test(value.trim())) return false;
  if (Buffer.isBuffer(value)) return value.length > 0 && !(value.length === 1 && (value[0] === 0 || value[0] === 0x30));
  return true;
}

// ---------------------------------------------------------------- settings

const probedDatabaseSchema = z.strictObject({
  /** `rds:<identifier>` (managedResourceName). */
  resource: z.string().check(z.regex(/^rds:[a-z][a-z0-9-]{0,62}$/)),
  database: z.string().check(z.minLength(1), z.maxLength(64)),
  user: z.string().check(z.minLength(1), z.maxLength(32)),
  statements: z.array(z.string().check(z.minLength(1), z.maxLength(PROBE_LIMITS.statementChars))).check(z.minLength(1), z.maxLength(PROBE_LIMITS.statements)),
});
export type ProbedDatabase = z.infer<typeof probedDatabaseSchema>;

export const databaseProbeSettingsSchema = z.strictObject({
  /** The region of the function and of the copies it reaches (IAM tokens are signed for it). */
  region: z.string().check(z.minLength(1)),
  databases: z.array(probedDatabaseSchema).check(z.minLength(1)),
});
export type DatabaseProbeSettings = z.infer<typeof databaseProbeSettingsSchema>;

export function parseDatabaseProbeSettings(raw: unknown): DatabaseProbeSettings {
  return z.parse(databaseProbeSettingsSchema, raw);
}

// ---------------------------------------------------------------- request and result

/**
 * An RDS endpoint of one of AWS Backup's restore test copies: `awsbackup-restore-test-….<id>.<region>.rds.amazonaws.com`
 * (an instance) or `….cluster-<id>.…` (a cluster), in the given region.
 */
export function testCopyHostProblem(host: string, region: string): string | undefined {
  const escapedRegion = region.replace(/[^a-z0-9-]/g, '');
  const pattern = new RegExp(`^${RESTORE_TEST_PREFIX}-[a-z0-9-]{1,40}\\.(cluster-)?[a-z0-9]{6,20}\\.${escapedRegion}\\.rds\\.amazonaws\\.com(\\.cn)?$`);
  return pattern.test(host) ? undefined : `must be the endpoint of one of AWS Backup's restore test copies (${RESTORE_TEST_PREFIX}-*.<id>.${region}.rds.amazonaws.com)`;
}

export const probeRequestSchema = z.strictObject({
  /** The configured database (`rds:orders-db`) whose copy is probed. */
  resource: z.string().check(z.minLength(1), z.maxLength(80)),
  protocol: z.enum(PROBE_PROTOCOLS),
  /** The copy's endpoint, as RDS describes it. */
  host: z.string().check(z.minLength(1), z.maxLength(255)),
  port: z.number().check(z.int(), z.gte(1150), z.lte(65535)),
});
export type ProbeRequest = z.infer<typeof probeRequestSchema>;

export function parseProbeRequest(event: unknown): ProbeRequest {
  return parseEventWith(probeRequestSchema, event);
}

export const probeResultSchema = z.strictObject({
  resource: z.string(),
  /** Whether the probe signed in; when not, `error` says why and no statement ran. */
  connected: z.boolean(),
  error: z.optional(z.string()),
  checks: z.array(z.strictObject({ statement: z.string(), held: z.boolean(), detail: z.string() })),
});
export type ProbeResult = z.infer<typeof probeResultSchema>;
