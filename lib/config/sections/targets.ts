import { z } from 'zod';
import {
  ABSOLUTE_PATH_PATTERN,
  DB_HOST_PATTERN,
  DB_NAME_PATTERN,
  DB_USER_PATTERN,
  EXCLUDE_PATTERN,
  EXECUTION_TIMEOUT_PARAMETER,
  SECRET_ID_PATTERN,
  SSM_PARAMETER_NAME_PATTERN,
  TARGET_NAME_PATTERN,
} from '../../../contracts/backup-command';
import { pathsOverlap, plainPathProblem } from '../../../contracts/paths';
import type { ConfigIssue } from '../config';
import { TIER_NAME_PATTERN, type BaseConfig } from '../schema';
import { objectivesSchema } from './objectives-schema';

/**
 * Backup targets: what the scheduled backups of EC2 instances take. Each target is one database
 * or one path, found on instances by ID or by tag, backed up in the tiers it takes part in.
 */

const re = (pattern: string) => new RegExp(pattern);

/** Tag keys and values as EC2 allows them (the trigger matches `tag:<key>` = value). */
const TAG_CHARACTERS = /^[A-Za-z0-9 +\-=._:/@]+$/;

/** Instances by ID or by tag (a target's own, or those a target may be restored onto). */
export const instancesSchema = z
  .strictObject({
    /** Up to 50 EC2 instance IDs (Run Command's limit per command). */
    instanceIds: z
      .array(z.string().regex(/^i-([0-9a-f]{8}|[0-9a-f]{17})$/, "must be an EC2 instance ID like 'i-0123456789abcdef0'"))
      .min(1, 'must list at least one instance ID')
      .max(50, 'at most 50 instance IDs per target (Run Command limit); use a tag instead')
      .optional(),
    /** Every instance carrying this tag (for instances that are replaced, e.g. by an Auto Scaling group). */
    tag: z
      .strictObject({
        key: z
          .string()
          .min(1)
          .max(128)
          .regex(TAG_CHARACTERS, 'tag keys are letters, digits, spaces and + - = . _ : / @')
          .refine((key) => !key.toLowerCase().startsWith('aws:'), "tag keys starting with 'aws:' are reserved by AWS"),
        value: z.string().min(1).max(256).regex(TAG_CHARACTERS, 'tag values are letters, digits, spaces and + - = . _ : / @'),
      })
      .optional(),
  })
  .superRefine((instances, ctx) => {
    if ((instances.instanceIds === undefined) === (instances.tag === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of instanceIds: [...] or tag: { key, value }' });
    }
    const ids = instances.instanceIds ?? [];
    const duplicate = ids.find((id, index) => ids.indexOf(id) !== index);
    if (duplicate) ctx.addIssue({ code: 'custom', path: ['instanceIds'], message: `'${duplicate}' is listed twice` });
  });

/**
 * A value that reads like a password rather than the name of where one is kept: credentials in
 * a URL, or a long run mixing cases and digits the way generated passwords do.
 */
export function looksLikeSecretValue(value: string): boolean {
  if (/:\/\/[^/@\s]*:[^@\s]*@/.test(value)) return true;
  return value.split(/[/:_.-]/).some((segment) => {
    if (segment.length < 16) return false;
    const lower = segment.match(/[a-z]/g)?.length ?? 0;
    const upper = segment.match(/[A-Z]/g)?.length ?? 0;
    const digits = segment.match(/[0-9]/g)?.length ?? 0;
    let changes = 0;
    for (let index = 1; index < segment.length; index += 1) {
      const kind = (char: string | undefined) => (char === undefined ? '' : /[a-z]/.test(char) ? 'l' : /[A-Z]/.test(char) ? 'u' : 'o');
      if (kind(segment[index]) !== kind(segment[index - 1])) changes += 1;
    }
    return lower > 0 && upper > 0 && digits >= 3 && changes >= segment.length / 3;
  });
}

const NOT_A_PASSWORD = 'looks like a password, not the name of where one is kept: passwords never go in the config';

const passwordSchema = z
  .strictObject(
    {
      /** Name of an SSM Parameter Store SecureString holding the password. */
      ssmParameter: z
        .string()
        .max(1011)
        .regex(re(SSM_PARAMETER_NAME_PATTERN), `must be an SSM parameter name such as '/myapp/prod/db-password' (${NOT_A_PASSWORD}?)`)
        .refine((name) => !/^\/?(aws|ssm)/i.test(name), "parameter names starting with 'aws' or 'ssm' are reserved by AWS")
        .refine((name) => !looksLikeSecretValue(name), NOT_A_PASSWORD)
        .optional(),
      /** Name or ARN of a Secrets Manager secret holding the password (plain text or JSON with `password`). */
      secretId: z
        .string()
        .regex(re(SECRET_ID_PATTERN), `must be a Secrets Manager secret name or ARN (${NOT_A_PASSWORD}?)`)
        .refine(
          (id) => !id.startsWith('arn:') || /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$/.test(id),
          'is not a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)',
        )
        .refine((id) => id.startsWith('arn:') || id.length <= 512, 'secret names are at most 512 characters')
        .refine((id) => !looksLikeSecretValue(id), NOT_A_PASSWORD)
        .optional(),
    },
    {
      error: (issue) =>
        issue.code === 'invalid_type' && typeof issue.input === 'string'
          ? "must name where the password is kept ({ ssmParameter: '/name' } or { secretId: 'name-or-arn' }), never the password itself"
          : undefined,
    },
  )
  .superRefine((password, ctx) => {
    if ((password.ssmParameter === undefined) === (password.secretId === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of { ssmParameter: name } or { secretId: name-or-arn }' });
    }
  });

/** Keys someone might reach for to put a password in the config. */
const PASSWORD_LIKE_KEY = /pass|pwd|secret|credential/i;

function strictTarget<Shape extends z.ZodRawShape>(shape: Shape) {
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return undefined;
      const keys = issue.keys.map((key) => `'${key}'`).join(', ');
      return issue.keys.some((key) => PASSWORD_LIKE_KEY.test(key))
        ? `unknown field ${keys}: passwords never go in the config; name where the instance reads it with password: { ssmParameter } or { secretId }`
        : `unknown field ${keys}`;
    },
  });
}

const absolutePath = z
  .string()
  .regex(re(ABSOLUTE_PATH_PATTERN), 'must be an absolute path of letters, digits, spaces and . _ / @ + = , : -')
  .superRefine((path, ctx) => {
    const problem = plainPathProblem(path);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const commonTargetShape = {
  /** Becomes part of the S3 prefix (`<tier>/<name>/...`) and the `Target` metric dimension. */
  name: z
    .string()
    .regex(re(TARGET_NAME_PATTERN), 'target names are 1-40 lowercase letters, digits and hyphens, starting with a letter (they become S3 prefixes and metric dimensions)'),
  /** The instances that hold the data. */
  instances: instancesSchema,
  /** Tiers this target is backed up in; omit for every configured tier. */
  tiers: z
    .array(z.string().regex(TIER_NAME_PATTERN, 'tier names are 1-24 lowercase letters, digits, hyphens'))
    .min(1, 'list at least one tier, or omit the field for all tiers')
    .optional(),
  /** Minutes one backup may run before the SSM agent stops it (at most 48 hours). */
  timeoutMinutes: z
    .number()
    .int()
    .min(1)
    .max(EXECUTION_TIMEOUT_PARAMETER.maxSeconds / 60, 'Run Command stops a command after at most 48 hours (2880 minutes)')
    .default(120),
  /** Run Command rate control when the target matches several instances. */
  rateControl: z
    .strictObject({
      /** How many instances back up at once: a number or a percentage. One at a time spares shared databases. */
      maxConcurrency: z
        .string()
        .regex(/^([1-9][0-9]{0,3}|[1-9][0-9]?%|100%)$/, "must be a number (e.g. '1') or a percentage (e.g. '50%')")
        .default('1'),
      /**
       * Failed instances after which Run Command stops sending to the rest. Each instance's
       * backup stands alone and every failure alerts, so by default one failure never skips the others.
       */
      maxErrors: z
        .string()
        .regex(/^(0|[1-9][0-9]{0,3}|[0-9]%|[1-9][0-9]%|100%)$/, "must be a number (e.g. '0') or a percentage (e.g. '100%')")
        .default('100%'),
    })
    .default({ maxConcurrency: '1', maxErrors: '100%' }),
  /** Recovery objectives; by default a database's RPO 24 h and RTO 2 h, files' RPO 24 h and RTO 4 h. */
  objectives: objectivesSchema,
};

const databaseShape = {
  /** Host the database listens on, as seen from the instance. */
  host: z.string().regex(re(DB_HOST_PATTERN), 'must be a host name or IP address'),
  database: z.string().regex(re(DB_NAME_PATTERN), 'database names are 1-63 letters, digits, _ and -'),
  user: z.string().regex(re(DB_USER_PATTERN), 'user names are 1-63 letters, digits and _ . @ -'),
  /** Where the instance reads the password at run time; never the password itself. */
  password: passwordSchema,
};

const port = (defaultPort: number) => z.number().int().min(1).max(65535).default(defaultPort);

const postgresTarget = strictTarget({
  ...commonTargetShape,
  kind: z.literal('postgres'),
  ...databaseShape,
  port: port(5432),
});

const mysqlTarget = strictTarget({
  ...commonTargetShape,
  kind: z.literal('mysql'),
  ...databaseShape,
  port: port(3306),
});

const sqliteTarget = strictTarget({
  ...commonTargetShape,
  kind: z.literal('sqlite'),
  /** The database file; it is copied through SQLite's online backup API, never as a plain file. */
  path: absolutePath.refine((path) => !path.endsWith('/'), 'must be a file, not a directory'),
});

const belowRoot = absolutePath.refine((path) => path !== '/', 'refusing to archive the whole file system; name the directory');

const filesTarget = strictTarget({
  ...commonTargetShape,
  kind: z.literal('files'),
  /** The directory to archive; or `paths`. */
  path: belowRoot.optional(),
  /**
   * Several files or directories archived together (an application's `.env`, its config files,
   * its uploads), each restored to its own place; a symbolic link is archived as the link.
   */
  paths: z
    .array(belowRoot.refine((path) => !path.includes(':'), "must not contain ':' (the paths travel joined by ':')"))
    .min(1)
    .max(64, 'at most 64 paths; archive their common directory instead')
    .optional(),
  /** tar exclude patterns (globs), matched against every member's name below `path` or the `paths`. */
  excludes: z
    .array(z.string().regex(re(EXCLUDE_PATTERN), "exclude patterns are letters, digits, spaces, globs (* ? [ ] !) and . _ / @ + = , - (no ':')"))
    .default([]),
});

export const targetSchema = z.discriminatedUnion('kind', [postgresTarget, mysqlTarget, sqliteTarget, filesTarget], {
  error: (issue) => (issue.code === 'invalid_union' ? "kind must be one of 'postgres', 'mysql', 'sqlite', 'files'" : undefined),
});

export type TargetConfig = z.infer<typeof targetSchema>;

export const targetsShape = {
  /** What the scheduled EC2 backups take; none by default. */
  targets: z.array(targetSchema).default([]),
};

type TargetsConfig = BaseConfig & { targets: readonly TargetConfig[] };

/** The tiers a target takes part in: its own list, or every configured tier. */
export function tiersOfTarget(target: TargetConfig, tierNames: readonly string[]): string[] {
  return target.tiers ? [...target.tiers] : [...tierNames];
}

/** Cross-field rules: unique names, tiers that exist; a warning for targets no schedule runs. */
export function targetsIssues(config: TargetsConfig): { errors: ConfigIssue[]; warnings: ConfigIssue[] } {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const tierNames = Object.keys(config.tiers);
  const firstIndexByName = new Map<string, number>();
  config.targets.forEach((target, index) => {
    if (config.guard.instanceIdsOnly && target.instances.tag !== undefined) {
      errors.push({
        path: ['targets', index, 'instances', 'tag'],
        message: `guard.instanceIdsOnly is set: name the instance IDs of '${target.name}' (anyone allowed ec2:CreateTags could tag an instance into it)`,
      });
    }
    const first = firstIndexByName.get(target.name);
    if (first !== undefined) {
      errors.push({
        path: ['targets', index, 'name'],
        message: `'${target.name}' is already the name of targets.${first}: names must be unique (they are S3 prefixes)`,
      });
    } else {
      firstIndexByName.set(target.name, index);
    }
    if (target.kind === 'files') errors.push(...filesPathIssues(target, index));
    target.tiers?.forEach((tier, tierIndex) => {
      if (!tierNames.includes(tier)) {
        errors.push({
          path: ['targets', index, 'tiers', tierIndex],
          message: `unknown tier '${tier}' (configured tiers: ${tierNames.join(', ')})`,
        });
      }
      if (target.tiers?.indexOf(tier) !== tierIndex) {
        errors.push({ path: ['targets', index, 'tiers', tierIndex], message: `'${tier}' is listed twice` });
      }
    });
    const scheduled = tiersOfTarget(target, tierNames).filter((tier) => config.tiers[tier]?.schedule !== undefined);
    if (scheduled.length === 0) {
      warnings.push({
        path: ['targets', index, 'tiers'],
        message: `target '${target.name}' takes part in no scheduled tier: it is only backed up when someone starts a backup`,
      });
    }
  });
  return { errors, warnings };
}

/** A files target names one directory (`path`) or several paths (`paths`), each once and apart. */
function filesPathIssues(target: Extract<TargetConfig, { kind: 'files' }>, index: number): ConfigIssue[] {
  if ((target.path === undefined) === (target.paths === undefined)) {
    return [{ path: ['targets', index, 'path'], message: `'${target.name}' must name the directory to archive (path) or several files and directories (paths), not ${target.path === undefined ? 'neither' : 'both'}` }];
  }
  const paths = target.paths ?? [];
  const joined = paths.join(':').length;
  const issues: ConfigIssue[] = [];
  if (joined > 8192) issues.push({ path: ['targets', index, 'paths'], message: `the paths take ${joined} characters joined; at most 8192 fit the document parameter` });
  paths.forEach((path, pathIndex) => {
    const other = paths.findIndex((candidate, candidateIndex) => candidateIndex < pathIndex && pathsOverlap(candidate, path));
    if (other >= 0) issues.push({ path: ['targets', index, 'paths', pathIndex], message: `'${path}' overlaps paths.${other} ('${paths[other] ?? ''}'): name each file or directory once` });
  });
  return issues;
}
