import { z } from 'zod';
import {
  ABSOLUTE_PATH_PATTERN,
  DB_USER_PATTERN,
  SECRET_ID_PATTERN,
  SSM_PARAMETER_NAME_PATTERN,
  TARGET_NAME_PATTERN,
} from '../../../contracts/backup-command';
import { livePathsOf, pathsOverlap, plainPathProblem } from '../../../contracts/paths';
import { DRILL_NAME_INFIX, DRILL_RECORD_PREFIX, DRILL_SOURCE_MAX_LENGTH, defaultScratchRoot } from '../../../contracts/restore-command';
import { REBUILD_RECORD_PREFIX } from '../../../contracts/rebuild';
import { schedulerCronSchema } from '../schema';
import { instancesSchema } from './targets';

/**
 * Restores of EC2 targets and the restore drills. Everything has a default: with no `restore`
 * section, every target can be restored from the console and is drilled on the first of each
 * month, with a safety backup in the `predeploy` tier before any `replace`.
 */

const re = (pattern: string) => new RegExp(pattern);

const passwordSchema = z
  .strictObject({
    ssmParameter: z.string().regex(re(SSM_PARAMETER_NAME_PATTERN), "must be an SSM parameter name such as '/myapp/prod/restore-password'").optional(),
    secretId: z.string().regex(re(SECRET_ID_PATTERN), 'must be a Secrets Manager secret name or ARN').optional(),
  })
  .superRefine((password, ctx) => {
    if ((password.ssmParameter === undefined) === (password.secretId === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of { ssmParameter: name } or { secretId: name-or-arn }' });
    }
  });

const targetRestoreSchema = z.strictObject({
  /**
   * sqlite and files targets: the only directory scratch restores and drills write to on the
   * instance. restore.sh creates it 0700 and refuses it when it, or a directory above it, belongs
   * to another user or is writable by others. It must not overlap any target's live path.
   * Omit for /var/tmp/backup-kit-restore/<target>.
   */
  scratchRoot: z
    .string()
    .regex(re(ABSOLUTE_PATH_PATTERN), 'must be an absolute path of letters, digits, spaces and . _ / @ + = , : -')
    .superRefine((path, ctx) => {
      const problem = path === '/' ? 'must be a directory below /' : plainPathProblem(path);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  /**
   * A database role that may create databases (PostgreSQL CREATEDB, MySQL CREATE/DROP/ALTER),
   * for targets whose backup user may only read. Omit to restore as the backup user.
   */
  user: z.string().regex(re(DB_USER_PATTERN), 'user names are 1-63 letters, digits and _ . @ -').optional(),
  /** Where the instance reads that role's password; required with `user`. */
  password: passwordSchema.optional(),
  /**
   * Where the backup is downloaded on the instance before it is checked and restored; it needs
   * room for one compressed backup.
   * Omit for /var/tmp.
   */
  workDirectory: z
    .string()
    .regex(re(ABSOLUTE_PATH_PATTERN), 'must be an absolute path of letters, digits, spaces and . _ / @ + = , : -')
    .optional(),
  /**
   * Other instances this target may be restored onto: a replacement for a lost server, or a
   * standby. By ID (`instanceIds`) or by tag (`tag: { key: 'backup-kit:restore-into', value:
   * '<target>' }`); the restore event names one with `onto`, and any other is refused. They need
   * the target's restore instance policy, as its own instances do. Omit: restores go to the
   * target's own instances only.
   */
  onto: instancesSchema.optional(),
  /** Take part in the monthly drill. */
  drill: z.boolean().default(true),
  /**
   * SQL the drill runs on the restored copy (PostgreSQL, MySQL); each must return a row whose
   * first value is true (not false, 0 or NULL). E.g. `SELECT max(created_at) > now() - interval '2 days' FROM orders`.
   * They travel in the Run Command parameters, so they must hold no secrets.
   */
  probes: z.array(z.string().min(1).max(1000, 'a probe is at most 1000 characters')).max(10, 'at most 10 probes').default([]),
});
export type TargetRestoreConfig = z.infer<typeof targetRestoreSchema>;

const rdsDrillSchema = z.strictObject({
  /** An instance of `rds.instances` (by identifier). */
  identifier: z.string().min(1),
  /**
   * Class of the temporary instance: the smallest the engine and storage allow keeps the cost
   * to minutes of that class.
   */
  instanceClass: z.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/, "must be an RDS instance class such as 'db.t4g.micro'").default('db.t4g.micro'),
});
export type RdsDrillConfig = z.infer<typeof rdsDrillSchema>;

const DEFAULT_DRILLS = {
  enabled: true,
  schedule: 'cron(0 5 1 * ? *)',
  alarmAfterDays: 35,
  rds: [],
  rebuilds: [],
};

const drillsSchema = z.strictObject({
  /** Run the drills at all (the alarm on their absence goes with them). */
  enabled: z.boolean().default(true),
  /** When the drills run, in the config's time zone (monthly, the 1st at 05:00, by default). */
  schedule: schedulerCronSchema.default(DEFAULT_DRILLS.schedule),
  /** The alarm fires when a target has had no successful drill for this many days. */
  alarmAfterDays: z.number().int().min(2).max(400).default(DEFAULT_DRILLS.alarmAfterDays),
  /**
   * RDS instances to drill (opt-in, because each drill runs a temporary instance): a
   * point-in-time restore to the latest restorable time, checked available, then deleted.
   */
  rds: z.array(rdsDrillSchema).default([]),
  /**
   * Servers rebuilt onto a standby on the drill schedule (opt-in): every target of the server
   * restored there in scratch mode, checked and removed, one after another; the alert gives the
   * server's measured recovery time. `onto` must be an instance each target may be restored onto.
   */
  rebuilds: z
    .array(
      z.strictObject({
        server: z.string().min(1),
        onto: z.string().regex(/^i-([0-9a-f]{8}|[0-9a-f]{17})$/, "must be an EC2 instance ID like 'i-0123456789abcdef0'"),
      }),
    )
    .default([]),
});

const DEFAULT_RESTORE = { safetyTier: 'predeploy', targets: {}, servers: {}, drills: DEFAULT_DRILLS };

const restoreSchema = z.strictObject({
  /**
   * The tier a `replace` restore takes its safety backup in, through the backup path. An
   * on-demand tier with a short retention suits it (the default tiers' `predeploy`).
   */
  safetyTier: z.string().default(DEFAULT_RESTORE.safetyTier),
  /** Per-target restore settings, by target name. */
  targets: z.record(z.string().regex(re(TARGET_NAME_PATTERN), 'must be the name of a target'), targetRestoreSchema).default({}),
  /**
   * Servers that can be rebuilt in one call when they are lost: name → the targets that live on
   * it, e.g. `{ "rs-systems": ["repairs-db", "repairs-media"] }`. The event `{ "rebuild":
   * "rs-systems", "onto": "i-…" }` restores each onto that instance, databases first; every
   * target needs `restore.targets.<target>.onto`.
   */
  servers: z
    .record(
      z.string(),
      z.array(z.string().regex(re(TARGET_NAME_PATTERN), 'must be the name of a target')).min(1, 'a server has at least one target'),
    )
    .default({}),
  drills: drillsSchema.default(DEFAULT_DRILLS),
});
export type RestoreConfig = z.infer<typeof restoreSchema>;

export const restoreConfigShape = {
  /** Restores of EC2 targets from the console, and the monthly restore drills. */
  restore: restoreSchema.default(DEFAULT_RESTORE),
};

interface Issue {
  readonly path: (string | number)[];
  readonly message: string;
}

interface ConfigWithRestore {
  readonly tiers: Readonly<Record<string, { readonly schedule?: string | undefined; readonly retentionDays: number }>>;
  readonly targets: readonly {
    readonly name: string;
    readonly kind: string;
    readonly path?: string | undefined;
    readonly paths?: readonly string[] | undefined;
    readonly user?: string | undefined;
    readonly instances: { readonly instanceIds?: readonly string[] | undefined };
  }[];
  readonly guard: { readonly instanceIdsOnly: boolean };
  readonly rds: { readonly instances: readonly { readonly identifier: string }[] };
  readonly restore: RestoreConfig;
}

/** Cross-field rules: a safety tier that exists, settings only for targets that exist, RDS drills of allowlisted instances. */
export function restoreIssues(config: ConfigWithRestore): { errors: Issue[]; warnings: Issue[] } {
  const errors: Issue[] = [];
  const warnings: Issue[] = [];
  const { restore } = config;
  const tierNames = Object.keys(config.tiers);
  const safety = config.tiers[restore.safetyTier];
  // No safety tier is legal (a team that never replaces in place): the restore function then
  // refuses mode 'replace' with the reason, and scratch restores and drills work.
  if (safety?.schedule !== undefined) {
    warnings.push({
      path: ['restore', 'safetyTier'],
      message: `'${restore.safetyTier}' is a scheduled tier: safety backups will sit among its scheduled ones and live as long`,
    });
  }
  for (const [prefix, what] of [
    [DRILL_RECORD_PREFIX, 'the drill records'],
    [REBUILD_RECORD_PREFIX, 'the rebuild records'],
  ] as const) {
    const name = prefix.replace('/', '');
    if (tierNames.includes(name)) errors.push({ path: ['tiers', name], message: `the prefix '${prefix}' of the backup bucket holds ${what}; name the tier differently` });
  }
  for (const [server, members] of Object.entries(restore.servers)) {
    if (!re(TARGET_NAME_PATTERN).test(server)) {
      errors.push({ path: ['restore', 'servers', server], message: 'server names are lowercase letters, digits and hyphens, at most 40, starting with a letter' });
    }
    members.forEach((member, index) => {
      const here = ['restore', 'servers', server, index];
      if (!config.targets.some((target) => target.name === member)) {
        errors.push({ path: here, message: `'${member}' is not a configured target (targets: ${config.targets.map((target) => target.name).join(', ') || 'none'})` });
      } else if (restore.targets[member]?.onto === undefined) {
        errors.push({ path: here, message: `'${member}' has no instances it may be restored onto: set restore.targets.${member}.onto (instance IDs, or a tag) so that server '${server}' can be rebuilt` });
      }
      if (members.indexOf(member) !== index) errors.push({ path: here, message: `'${member}' is listed twice` });
    });
  }
  const kinds = new Map(config.targets.map((target) => [target.name, target.kind]));
  const ownInstances = new Map(config.targets.map((target) => [target.name, target.instances.instanceIds ?? []]));
  for (const [name, settings] of Object.entries(restore.targets)) {
    const here = ['restore', 'targets', name];
    const kind = kinds.get(name);
    if (kind === undefined) {
      errors.push({ path: here, message: `'${name}' is not a configured target (targets: ${[...kinds.keys()].join(', ') || 'none'})` });
      continue;
    }
    const database = kind === 'postgres' || kind === 'mysql';
    if (!database && (settings.user !== undefined || settings.password !== undefined)) {
      errors.push({ path: [...here, 'user'], message: `target '${name}' is ${kind}: a restore user applies to postgres and mysql only` });
    }
    if (!database && settings.probes.length > 0) {
      errors.push({ path: [...here, 'probes'], message: `target '${name}' is ${kind}: SQL probes apply to postgres and mysql only` });
    }
    if (database && settings.scratchRoot !== undefined) {
      errors.push({ path: [...here, 'scratchRoot'], message: `target '${name}' is ${kind}: scratch restores of databases go to a new database (scratchName), not a directory` });
    }
    if ((settings.user === undefined) !== (settings.password === undefined)) {
      errors.push({ path: [...here, 'password'], message: 'user and password go together: name where the restore user\'s password is kept' });
    }
    if (settings.onto?.tag !== undefined && config.guard.instanceIdsOnly) {
      errors.push({
        path: [...here, 'onto', 'tag'],
        message: `guard.instanceIdsOnly is set: name the instance IDs '${name}' may be restored onto (anyone allowed ec2:CreateTags could tag an instance into it)`,
      });
    }
    settings.onto?.instanceIds?.forEach((id, index) => {
      if (ownInstances.get(name)?.includes(id)) {
        errors.push({ path: [...here, 'onto', 'instanceIds', index], message: `${id} is already an instance of '${name}': onto lists other instances only` });
      }
    });
    settings.probes.forEach((probe, index) => {
      if (/\{\{/.test(probe)) {
        errors.push({ path: [...here, 'probes', index], message: "must not contain '{{' (Run Command would read it as a parameter)" });
      }
    });
  }
  for (const target of config.targets) {
    if (livePathsOf(target).length === 0) continue;
    const configured = restore.targets[target.name]?.scratchRoot;
    const root = configured ?? defaultScratchRoot(target.name);
    for (const other of config.targets) {
      const live = livePathsOf(other).find((path) => pathsOverlap(root, path));
      if (live === undefined) continue;
      errors.push({
        path: configured !== undefined ? ['restore', 'targets', target.name, 'scratchRoot'] : ['targets', config.targets.indexOf(target), target.paths ? 'paths' : 'path'],
        message: `the scratch root ${root} of '${target.name}' overlaps the live path ${live} of '${other.name}': scratch copies must go apart from live data (set restore.targets.${target.name}.scratchRoot)`,
      });
      break;
    }
  }
  if (restore.drills.enabled) {
    for (const target of config.targets) {
      if (target.kind !== 'postgres' && target.kind !== 'mysql') continue;
      const settings = restore.targets[target.name];
      if (settings?.drill === false || settings?.user !== undefined) continue;
      warnings.push({
        path: ['restore', 'targets', target.name, 'user'],
        message:
          `target '${target.name}' is drilled without a restore user: the drill creates its scratch database as the backup user '${target.user}', ` +
          `which needs ${target.kind === 'postgres' ? 'CREATEDB' : 'the CREATE and DROP privileges on new databases'}; grant it, name a restore user that has it (restore.targets.${target.name}.user and password), or set restore.targets.${target.name}.drill: false`,
      });
    }
  }
  const allowlisted = new Set(config.rds.instances.map((instance) => instance.identifier));
  const seen = new Set<string>();
  restore.drills.rds.forEach((drill, index) => {
    const here = ['restore', 'drills', 'rds', index, 'identifier'];
    if (!allowlisted.has(drill.identifier)) {
      errors.push({ path: here, message: `'${drill.identifier}' is not in rds.instances: only allowlisted instances are drilled` });
    }
    if (drill.identifier.length > DRILL_SOURCE_MAX_LENGTH) {
      errors.push({ path: here, message: `'${drill.identifier}' is longer than ${DRILL_SOURCE_MAX_LENGTH} characters: '<identifier>${DRILL_NAME_INFIX}<stamp>' must fit RDS's 63` });
    }
    if (seen.has(drill.identifier)) errors.push({ path: here, message: `'${drill.identifier}' is listed twice` });
    seen.add(drill.identifier);
  });
  restore.drills.rebuilds.forEach(({ server, onto }, index) => {
    const here = ['restore', 'drills', 'rebuilds', index];
    const members = restore.servers[server];
    if (!members) {
      errors.push({ path: [...here, 'server'], message: `'${server}' is not a server of restore.servers (${Object.keys(restore.servers).join(', ') || 'none'})` });
      return;
    }
    for (const member of members) {
      const ids = restore.targets[member]?.onto?.instanceIds;
      if (ids !== undefined && !ids.includes(onto)) {
        errors.push({ path: [...here, 'onto'], message: `${onto} is not an instance '${member}' may be restored onto (restore.targets.${member}.onto.instanceIds)` });
      }
    }
  });
  if (restore.drills.enabled && restore.drills.alarmAfterDays < 32 && /^cron\(\S+ \S+ \d+ \* \? \*\)$/.test(restore.drills.schedule)) {
    warnings.push({
      path: ['restore', 'drills', 'alarmAfterDays'],
      message: `${restore.drills.alarmAfterDays} days is shorter than the gap between two monthly drills: the alarm will fire every month before the next drill`,
    });
  }
  return { errors, warnings };
}
