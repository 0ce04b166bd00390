import { BackupClient } from '@aws-sdk/client-backup';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetCommandInvocationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { resolve } from 'node:path';
import { STACK_OUTPUTS, jobsStackName, storageStackName } from '../contracts/stack-outputs';
import type { RestoreEventInput } from '../contracts/restore-event';
import { ConfigError, loadConfig, type BackupKitConfig } from '../lib/config/config';
import { readConfigSource } from '../lib/config/files';
import { objectiveTargets } from '../lib/config/sections/objectives';
import { heldSeries } from './holdings';
import { listRestorePoints, type RestorePoint } from './list';
import { gatherManagedStatus, type ManagedStatus } from './managed';
import { restoreCommand } from './restore';
import { rdsRestoreCommand } from './rds-restore';
import { reportCommand } from './report';
import type { RestoreEventInput as RdsRestoreEventInput } from '../contracts/rds-restore-event';
import { gatherStatus, statusExitCode, targetsFromHoldings, type StatusReport, type StatusTarget } from './status';
import { age, bytes, table } from './table';

/**
 * `npx backup-kit <command>`: what the backups are, for an engineer and for a pipeline. It uses
 * the caller's AWS credentials and reads the backup bucket only (GET and LIST).
 *
 *   status [-c config=<name>] [--bucket <name>] [--json]
 *   list <target> [--since <date>] [--tier <tier>] [-c config=<name>] [--bucket <name>] [--json]
 *
 * Without `--bucket`, the bucket is the deployed storage stack's output (`<prefix>-storage`,
 * in the config's primary region). Without a config, the targets are what the bucket holds.
 * `--endpoint-url` (or AWS_ENDPOINT_URL) points it at an S3 emulator, as for the local drill.
 */

const USAGE = `usage:
  backup-kit status [-c config=<name>] [--bucket <name>] [--region <region>] [--endpoint-url <url>] [--json]
  backup-kit list <target> [--since <YYYY-MM-DD>] [--tier <tier>] [-c config=<name>] [--bucket <name>] [--json]
  backup-kit restore <target> -c config=<name> [--mode scratch|replace] [--key <key> | --before <time>]
      [--instance-id <id> | --onto <id>] [--scratch-name <db> | --scratch-path <path>] [--yes [--confirm <target>]]
  backup-kit rds-restore <source> --time <latest|ISO time> -c config=<name> [--target <name>]
      [--instance-class <class>] [--multi-az] [--dr] [--yes]
  backup-kit report [--month <YYYY-MM>] [--out <dir>] [-c config=<name>] [--bucket <name>]

status exits 1 when a target misses its RPO (no verified backup young enough) or has had no good
drill in 35 days; 2 when the command itself could not run. docs/status.md says more.`;

/** A refusal of the command line: the message names the flag and why; exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface ParsedArguments {
  readonly command: string;
  readonly positional: readonly string[];
  readonly flags: Readonly<Record<string, string | true>>;
}

const VALUE_FLAGS = new Set(['bucket', 'region', 'endpoint-url', 'since', 'tier', 'config', 'mode', 'key', 'before', 'instance-id', 'onto', 'scratch-name', 'scratch-path', 'confirm', 'requested-by', 'function', 'time', 'target', 'instance-class', 'month', 'out']);
const SWITCHES = new Set(['json', 'help', 'yes', 'multi-az', 'dr']);

export function parseArguments(argv: readonly string[]): ParsedArguments {
  const flags: Record<string, string | true> = {};
  const positional: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index] ?? '';
    if (argument === '-c' || argument === '--context') {
      const value = argv[(index += 1)] ?? '';
      const match = /^config=(.+)$/.exec(value);
      if (!match?.[1]) throw new UsageError(`${argument}: expected config=<name>, got '${value}'`);
      flags.config = match[1];
    } else if (argument.startsWith('--')) {
      const [name = '', inline] = argument.slice(2).split(/=(.*)/s);
      if (SWITCHES.has(name)) {
        if (inline !== undefined) throw new UsageError(`--${name}: takes no value (got '${inline}')`);
        flags[name] = true;
      } else if (VALUE_FLAGS.has(name)) {
        const value = inline ?? argv[(index += 1)];
        if (value === undefined || value === '') throw new UsageError(`--${name}: a value is required`);
        flags[name] = value;
      } else throw new UsageError(`--${name}: not a flag of backup-kit (${[...VALUE_FLAGS, ...SWITCHES].map((flag) => `--${flag}`).join(', ')})`);
    } else positional.push(argument);
  }
  const [command = 'help', ...rest] = positional;
  return { command, positional: rest, flags };
}

interface Context {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly config?: BackupKitConfig;
  /** RDS and AWS Backup of the primary region (for the databases and managed data of the config). */
  readonly rds: RDSClient;
  readonly backup: BackupClient;
  readonly cloudwatch: CloudWatchClient;
}

/** What status says: the targets' backups, and with a config, its RDS databases and AWS Backup resources. */
export type FullStatus = StatusReport & Partial<ManagedStatus>;

function s3Client(region: string, endpoint: string | undefined): S3Client {
  return new S3Client({ region, ...(endpoint ? { endpoint, forcePathStyle: true } : {}) });
}

async function contextOf(args: ParsedArguments, env: NodeJS.ProcessEnv, root: string): Promise<Context> {
  const selection = typeof args.flags.config === 'string' ? args.flags.config : undefined;
  let config: BackupKitConfig | undefined;
  if (selection) {
    try {
      config = loadConfig(readConfigSource(selection, root)).config;
    } catch (error) {
      throw new UsageError(error instanceof ConfigError || error instanceof Error ? error.message : String(error));
    }
  }
  const region = typeof args.flags.region === 'string' ? args.flags.region : (config?.primaryRegion ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION);
  if (!region) throw new UsageError('--region: no region (give -c config=<name>, --region, or AWS_REGION)');
  const endpoint = typeof args.flags['endpoint-url'] === 'string' ? args.flags['endpoint-url'] : env.AWS_ENDPOINT_URL;
  let bucket = typeof args.flags.bucket === 'string' ? args.flags.bucket : undefined;
  if (!bucket) {
    if (!config) throw new UsageError('--bucket: give the backup bucket, or -c config=<name> to read it from the deployed storage stack');
    const stackName = storageStackName(config.prefix);
    const cloudFormation = new CloudFormationClient({ region, ...(endpoint ? { endpoint } : {}) });
    const stack = (await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
    bucket = stack?.Outputs?.find((output) => output.OutputKey === STACK_OUTPUTS.backupBucketName)?.OutputValue;
    if (!bucket) throw new UsageError(`--bucket: the stack ${stackName} in ${region} has no output ${STACK_OUTPUTS.backupBucketName} (deployed with an older version? give --bucket)`);
  }
  const regional = { region, ...(endpoint ? { endpoint } : {}) };
  return { s3: s3Client(region, endpoint), bucket, ...(config ? { config } : {}), rds: new RDSClient(regional), backup: new BackupClient(regional), cloudwatch: new CloudWatchClient(regional) };
}

function configuredTargets(config: BackupKitConfig): StatusTarget[] {
  return objectiveTargets(config).map((target) => ({ ...target, tiers: target.tiers.map((tier) => tier.tier) }));
}

/** 1 when a target, database or managed resource misses an objective, else 0. */
export function fullStatusExitCode(report: FullStatus): number {
  const managedMisses = [...(report.databases ?? []), ...(report.managed ?? [])].some((entry) => !entry.rpoMet);
  return managedMisses ? 1 : statusExitCode(report);
}

function formatManaged(report: FullStatus): string[] {
  const sections: string[] = [];
  if (report.databases && report.databases.length > 0) {
    sections.push(
      '',
      table(
        ['database', 'restorable from', 'restorable to', 'lag / RPO', 'RPO'],
        report.databases.map((database) => [
          database.resource,
          database.earliest ? `${database.earliest.slice(0, 16).replace('T', ' ')}Z` : '-',
          database.latest ? `${database.latest.slice(0, 16).replace('T', ' ')}Z` : (database.problem ?? '-'),
          database.lagHours !== undefined ? `${age(database.lagHours)} / ${database.objectives.rpoHours} h` : '-',
          database.rpoMet ? 'met' : 'MISSED',
        ]),
      ),
    );
  }
  if (report.managed && report.managed.length > 0) {
    sections.push(
      '',
      table(
        ['AWS Backup resource', 'class', 'recovery points', 'newest', 'age / RPO', 'RPO'],
        report.managed.map((resource) => [
          resource.resource,
          resource.className,
          String(resource.recoveryPoints),
          resource.newest ? `${resource.newest.at.slice(0, 16).replace('T', ' ')}Z` : 'none',
          resource.newest ? `${age(resource.newest.ageHours)} / ${resource.objectives.rpoHours} h` : '-',
          resource.rpoMet ? 'met' : 'MISSED',
        ]),
      ),
    );
  }
  return sections;
}

export function formatStatus(report: FullStatus): string {
  const rows = report.targets.flatMap((target) =>
    target.tiers.map((tier, index) => [
      index === 0 ? target.target : '',
      tier.tier,
      tier.newest ? `${tier.newest.at.slice(0, 16).replace('T', ' ')}Z` : 'none',
      tier.newest ? age(tier.newest.ageHours) : '-',
      tier.newest?.verdict ?? '-',
      tier.newest ? `${bytes(tier.newest.bytes)}${tier.sizeChangePercent !== undefined ? ` (${tier.sizeChangePercent >= 0 ? '+' : ''}${tier.sizeChangePercent}%)` : ''}` : '-',
      tier.replica ?? '-',
    ]),
  );
  const summary = report.targets.map((target) => [
    target.target,
    target.verifiedAgeHours !== undefined ? `${age(target.verifiedAgeHours)} / ${target.objectives.rpoHours} h` : `none / ${target.objectives.rpoHours} h`,
    target.rpoMet ? 'met' : 'MISSED',
    target.drill ? `${target.drill.at.slice(0, 10)} (${target.drill.ageDays} d ago)` : target.drilled ? 'never' : 'not drilled',
    target.drill ? `${Math.round((target.drill.restoreSeconds / 60) * 10) / 10} min / ${target.objectives.rtoHours} h ${target.drill.rtoMet ? 'met' : 'MISSED'}` : '-',
    target.misses.length === 0 ? 'ok' : `MISSES: ${target.misses.join('; ')}`,
  ]);
  return [
    `backup-kit status of s3://${report.bucket} at ${report.at}`,
    '',
    table(['target', 'tier', 'newest backup', 'age', 'verdict', 'size (vs before)', 'replica'], rows),
    '',
    table(['target', 'verified age / RPO', 'RPO', 'last good drill', 'drill time / RTO', 'state'], summary),
    ...formatManaged(report),
  ].join('\n');
}

export function formatList(target: string, points: readonly RestorePoint[]): string {
  if (points.length === 0) return `no backups of '${target}'`;
  return table(
    ['time', 'tier', 'size', 'verdict', 'storage', 'retain until', 'version', 'key'],
    points.map((point) => [`${point.at.slice(0, 19).replace('T', ' ')}Z`, point.tier, bytes(point.bytes), point.verdict, point.storageClass, point.retainUntil?.slice(0, 10) ?? '-', point.versionId ?? '-', point.key]),
  );
}

/** Runs one command; what it prints goes to `out`, and the exit code is returned. */
export async function run(argv: readonly string[], out: (text: string) => void, env: NodeJS.ProcessEnv = process.env, root: string = resolve(__dirname, '..')): Promise<number> {
  const args = parseArguments(argv);
  if (args.command === 'help' || args.flags.help) {
    out(USAGE);
    return 0;
  }
  if (!['status', 'list', 'restore', 'rds-restore', 'report'].includes(args.command)) throw new UsageError(`'${args.command}' is not a command of backup-kit\n${USAGE}`);
  if (args.command === 'restore' || args.command === 'rds-restore') return restore(args, out, env, root);
  const context = await contextOf(args, env, root);
  const json = args.flags.json === true;
  if (args.command === 'report') {
    const targets = context.config
      ? objectiveTargets(context.config)
      : targetsFromHoldings(await heldSeries(context.s3, context.bucket)).map((target) => ({ ...target, tiers: target.tiers.map((tier) => ({ tier })) }));
    const month = flag(args, 'month');
    return reportCommand(
      {
        ...(month ? { month } : {}),
        out: flag(args, 'out') ?? '.',
        prefix: context.config?.prefix ?? '',
        targets,
        databases: context.config ? [...context.config.rds.instances.map((instance) => ({ identifier: instance.identifier, kind: 'instance' as const })), ...context.config.rds.clusters.map((cluster) => ({ identifier: cluster.identifier, kind: 'cluster' as const }))] : [],
      },
      { s3: context.s3, cloudwatch: context.cloudwatch, rds: context.rds, bucket: context.bucket, out },
    );
  }
  if (args.command === 'status') {
    const targets = context.config ? configuredTargets(context.config) : targetsFromHoldings(await heldSeries(context.s3, context.bucket));
    const [targetStatus, managed] = await Promise.all([
      gatherStatus(context.s3, context.bucket, targets),
      context.config ? gatherManagedStatus(context.config, { rds: context.rds, backup: context.backup }) : Promise.resolve(undefined),
    ]);
    const report: FullStatus = { ...targetStatus, ...(managed ?? {}) };
    out(json ? JSON.stringify(report, null, 2) : formatStatus(report));
    return fullStatusExitCode(report);
  }
  const [target] = args.positional;
  if (!target) throw new UsageError('list: name the target (backup-kit list <target>)');
  const since = typeof args.flags.since === 'string' ? new Date(args.flags.since) : undefined;
  if (since && Number.isNaN(since.getTime())) throw new UsageError(`--since: '${String(args.flags.since)}' is not a date (YYYY-MM-DD or an ISO time)`);
  const known = context.config ? configuredTargets(context.config).find((candidate) => candidate.name === target) : targetsFromHoldings(await heldSeries(context.s3, context.bucket)).find((candidate) => candidate.name === target);
  if (!known) throw new UsageError(`list: no target '${target}' ${context.config ? 'in the config' : `in s3://${context.bucket}`}`);
  const tiers = typeof args.flags.tier === 'string' ? [args.flags.tier] : known.tiers;
  const points = await listRestorePoints(context.s3, context.bucket, target, tiers, since ? { since } : {});
  out(json ? JSON.stringify({ bucket: context.bucket, target, points }, null, 2) : formatList(target, points));
  return 0;
}

const flag = (args: ParsedArguments, name: string): string | undefined => (typeof args.flags[name] === 'string' ? args.flags[name] : undefined);

/** `restore <target>`: the restore function's dry run, a confirmation, the restore, its progress and its time. */
async function restore(args: ParsedArguments, out: (text: string) => void, env: NodeJS.ProcessEnv, root: string): Promise<number> {
  const rds = args.command === 'rds-restore';
  const [target] = args.positional;
  if (!target) throw new UsageError(rds ? 'rds-restore: name the source database (backup-kit rds-restore <source> --time <when>)' : 'restore: name the target (backup-kit restore <target>)');
  const selection = flag(args, 'config');
  if (!selection && !flag(args, 'function')) throw new UsageError('-c config=<name>: restore needs the config (its region and stacks), or --function and --region');
  const config = selection ? loadConfig(readConfigSource(selection, root)).config : undefined;
  const region = flag(args, 'region') ?? config?.primaryRegion ?? env.AWS_REGION;
  if (!region) throw new UsageError('--region: no region');
  const endpoint = flag(args, 'endpoint-url') ?? env.AWS_ENDPOINT_URL;
  const regional = { region, ...(endpoint ? { endpoint } : {}) };
  let functionName = flag(args, 'function');
  if (!functionName && config) {
    const stackName = jobsStackName(config.prefix);
    const outputKey = rds ? STACK_OUTPUTS.rdsRestoreFunctionName : STACK_OUTPUTS.restoreFunctionName;
    const stack = (await new CloudFormationClient(regional).send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
    functionName = stack?.Outputs?.find((output) => output.OutputKey === outputKey)?.OutputValue;
    if (!functionName) throw new UsageError(`--function: the stack ${stackName} in ${region} has no output ${outputKey} (nothing of that kind to restore, or deployed with an older version)`);
  }
  const lambda = new LambdaClient(regional);
  const terminal = process.stdin.isTTY === true && process.stdout.isTTY === true;
  const confirm = flag(args, 'confirm');
  const options = { yes: args.flags.yes === true, ...(confirm ? { confirm } : {}) };
  const invoke = async (event: Record<string, unknown>) => {
    const answer = await lambda.send(new InvokeCommand({ FunctionName: functionName, Payload: new TextEncoder().encode(JSON.stringify(event)) }));
    const text = answer.Payload ? new TextDecoder().decode(answer.Payload) : '{}';
    if (answer.FunctionError) throw new Error(`the restore function failed: ${text.slice(0, 500)}`);
    return JSON.parse(text) as { ok: boolean } & Record<string, unknown>;
  };
  const ask = terminal
    ? {
        ask: async (question: string) => {
          const reader = createInterface({ input: process.stdin, output: process.stdout });
          try {
            return await reader.question(question);
          } finally {
            reader.close();
          }
        },
      }
    : {};
  const requestedBy = (flag(args, 'requested-by') ?? `${userInfo().username} via backup-kit`).replace(/[^\p{L}\p{N} ._@+-]/gu, '-').slice(0, 60);
  if (rds) {
    const time = flag(args, 'time');
    if (!time) throw new UsageError("--time: give 'latest' or the time to restore to (ISO 8601 with a zone)");
    const request: RdsRestoreEventInput = {
      source: target,
      restoreTime: time,
      requestedBy,
      ...(flag(args, 'target') ? { target: flag(args, 'target') } : {}),
      ...(flag(args, 'instance-class') ? { instanceClass: flag(args, 'instance-class') } : {}),
      ...(args.flags['multi-az'] === true ? { multiAz: true } : {}),
      ...(args.flags.dr === true ? { region: 'dr' as const } : {}),
    };
    const clients = new Map<string, RDSClient>();
    const rdsIn = (where: string): RDSClient => {
      const client = clients.get(where) ?? new RDSClient({ region: where, ...(endpoint ? { endpoint } : {}) });
      clients.set(where, client);
      return client;
    };
    return rdsRestoreCommand(request, options, {
      out,
      invoke,
      ...ask,
      copyStatus: async (name, where) => {
        try {
          const instance = (await rdsIn(where).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: name }))).DBInstances?.[0];
          return { status: instance?.DBInstanceStatus ?? 'creating' };
        } catch (error) {
          if ((error as { name?: string }).name !== 'DBInstanceNotFoundFault') throw error;
          const cluster = (await rdsIn(where).send(new DescribeDBClustersCommand({ DBClusterIdentifier: name }))).DBClusters?.[0];
          return { status: cluster?.Status ?? 'creating' };
        }
      },
    });
  }
  const mode = flag(args, 'mode') ?? 'scratch';
  if (mode !== 'scratch' && mode !== 'replace') throw new UsageError(`--mode: '${mode}' is not scratch or replace`);
  const request: RestoreEventInput = {
    target,
    mode,
    requestedBy,
    ...Object.fromEntries(
      (
        [
          ['key', 'key'],
          ['before', 'before'],
          ['instance-id', 'instanceId'],
          ['onto', 'onto'],
          ['scratch-name', 'scratchName'],
          ['scratch-path', 'scratchPath'],
        ] as const
      ).flatMap(([name, field]) => (flag(args, name) !== undefined ? [[field, flag(args, name)]] : [])),
    ),
  };
  const ssm = new SSMClient(regional);
  return restoreCommand(request, options, {
    out,
    invoke,
    ...ask,
    commandStatus: async (commandId, instanceId) => {
      const invocation = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
      return { status: invocation.Status ?? 'Pending', ...(invocation.StatusDetails ? { details: invocation.StatusDetails } : {}) };
    },
  });
}

if (require.main === module) {
  run(process.argv.slice(2), (text) => process.stdout.write(`${text}\n`)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`backup-kit: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(2);
    },
  );
}
