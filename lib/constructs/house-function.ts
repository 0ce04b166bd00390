import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Duration, RemovalPolicy, Stack, Stage, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { buildSync } from 'esbuild';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { BUNDLED_SETTINGS, LAMBDA_ENVIRONMENT_LIMIT_BYTES } from '../../contracts/bundled-settings';
import { METRIC_NAMESPACE } from '../../contracts/metric-catalog';

/** The newest Node.js runtime Lambda offers; one place to move when AWS adds the next. */
export const HOUSE_RUNTIME = lambda.Runtime.NODEJS_24_X;

/**
 * How every function is bundled. The AWS SDK is the runtime's (Lambda's Node.js 24 runtime ships
 * SDK v3 in /var/runtime/node_modules), not bundled: bundles of 54-180 KB instead of 1.0-1.6 MB,
 * and a faster start (`bench/bundles.ts`: the backup result function 173 ms against 245 ms). The
 * price is that a function runs the runtime's SDK version, not the one the tests ran; the kit
 * calls only long-stable operations, and each function logs the SDK version it loaded.
 */
export const HOUSE_BUNDLING = {
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  target: 'node24',
  externalModules: ['@aws-sdk/*', '@smithy/*'],
} as const;

export interface HouseFunctionProps extends Omit<lambda.FunctionOptions, 'logGroup' | 'logRetention' | 'role'> {
  /** Path of the handler file (`lambda/<job>/handler.ts`); it exports `handler`. */
  readonly entry: string;
  /**
   * Files copied beside the bundle, where the code loads them at run time (sql.js's WebAssembly).
   * @default - none
   */
  readonly extraFiles?: readonly { readonly from: string; readonly to: string }[];
  /** What the function does, shown in the console. */
  readonly description: string;
  /** Key that encrypts the function's log group. */
  readonly logKey: kms.IKey;
  /**
   * How long the function's logs are kept.
   * @default - one year (restore and backup logs are audit evidence)
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Powertools service name (logs and the metrics `service` dimension).
   * @default - the construct id
   */
  readonly serviceName?: string;
  /**
   * Physical name of the function's role; only where a policy of another account must name it
   * (the isolated replica account lets the verify worker read the replica).
   * @default - CloudFormation generates the name
   */
  readonly roleName?: string;
}

/**
 * The house function: latest Node.js runtime on ARM64, minified bundle with source maps,
 * an explicit KMS-encrypted log group with retention, and a role that can write only to that
 * log group. Caller options are merged over the defaults (bundling and environment key by key),
 * never replacing them wholesale.
 */
export class HouseFunction extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: HouseFunctionProps) {
    super(scope, id);
    const { logKey, logRetention, serviceName, roleName, extraFiles, entry, environment, description, ...rest } = props;
    if (description.trim().length === 0) {
      throw new Error(`HouseFunction ${id} description: must say what the function does`);
    }
    const timeout = props.timeout ?? Duration.minutes(1);
    if (timeout.toSeconds() > 900) {
      throw new Error(`HouseFunction ${id} timeout: Lambda allows at most 15 minutes (got ${timeout.toSeconds()} s)`);
    }

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logRetention ?? logs.RetentionDays.ONE_YEAR,
      encryptionKey: logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      ...(roleName !== undefined ? { roleName } : {}),
      description: `Runs ${Stack.of(this).stackName}/${id}`,
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    const { kept, bundled } = splitEnvironment(id, {
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: serviceName ?? id,
      POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
      ...environment,
    });
    this.function = new lambda.Function(this, 'Function', {
      runtime: HOUSE_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout,
      ...rest,
      code: houseCode(this, entry, [...(extraFiles ?? [])], bundled),
      handler: 'index.handler',
      description,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: kept,
    });
    // Lambda always adds DependsOn on its role (so the role's policy exists first); cfn-lint flags
    // the role half as redundant with the GetAtt (W3005). The dependency is deliberate.
    (this.function.node.defaultChild as lambda.CfnFunction).addMetadata('cfn-lint', { config: { ignore_checks: ['W3005'] } });
  }
}

/** What a token (an ARN, a name CloudFormation makes) may take once resolved, at most. */
const TOKEN_BYTES = 256;
/** Kept below Lambda's limit: room for variables Lambda or a later change adds. */
const ENVIRONMENT_BUDGET_BYTES = LAMBDA_ENVIRONMENT_LIMIT_BYTES - 512;

/**
 * The variables that stay in the environment, and the ones that go in the bundle: while the
 * environment would pass the budget, its largest plain value moves to the bundle (tokens cannot:
 * CloudFormation resolves them). A configuration of any size then fits; small ones are unchanged.
 */
export function splitEnvironment(id: string, environment: Record<string, string>): { kept: Record<string, string>; bundled?: Record<string, string> } {
  const sizeOf = (name: string, value: string) => name.length + (Token.isUnresolved(value) ? TOKEN_BYTES : Buffer.byteLength(value));
  const kept = { ...environment };
  const bundled: Record<string, string> = {};
  const sizeOfAll = () => Object.entries(kept).reduce((sum, [name, value]) => sum + sizeOf(name, value), 0);
  for (let size = sizeOfAll(); size > ENVIRONMENT_BUDGET_BYTES; size = sizeOfAll()) {
    const largest = Object.entries(kept)
      .filter(([name, value]) => !Token.isUnresolved(value) && name !== 'NODE_OPTIONS' && name !== BUNDLED_SETTINGS.namesEnv)
      .sort(([, a], [, b]) => b.length - a.length)[0];
    if (largest === undefined || largest[1].length < 64) {
      throw new Error(`HouseFunction ${id} environment: ${size} bytes, and nothing left large enough to move into the bundle (Lambda allows ${LAMBDA_ENVIRONMENT_LIMIT_BYTES})`);
    }
    const [name, value] = largest;
    bundled[name] = value;
    delete kept[name];
    kept[BUNDLED_SETTINGS.namesEnv] = Object.keys(bundled).join(',');
  }
  return Object.keys(bundled).length > 0 ? { kept, bundled } : { kept };
}

/**
 * The function's code: `entry` bundled by esbuild in this process (one bundle takes about 0.1 s;
 * CDK's NodejsFunction spends another 0.6 s per function starting esbuild through npx), with the
 * extra files and the bundled settings beside it. Into a directory of the assembly named by the
 * construct path, so the source map's relative paths, and so the asset hash, are the same at every
 * synth. A stack synthesized without bundling (`cdk deploy --exclusively` of another stack, the
 * template tests) gets the handler's directory as a stand-in, as NodejsFunction does.
 */
function houseCode(scope: Construct, entry: string, extraFiles: { from: string; to: string }[], bundledSettings: Record<string, string> | undefined): lambda.Code {
  if (!Stack.of(scope).bundlingRequired) return lambda.Code.fromAsset(dirname(entry));
  const outdir = join(Stage.of(scope)?.outdir ?? tmpdir(), '.house-bundles', createHash('sha256').update(scope.node.path).digest('hex').slice(0, 16));
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: HOUSE_BUNDLING.target,
    minify: HOUSE_BUNDLING.minify,
    sourcemap: HOUSE_BUNDLING.sourceMap,
    sourcesContent: HOUSE_BUNDLING.sourcesContent,
    external: [...HOUSE_BUNDLING.externalModules],
    outfile: join(outdir, 'index.js'),
    logLevel: 'warning',
  });
  for (const file of extraFiles) copyFileSync(file.from, join(outdir, file.to));
  if (bundledSettings) writeFileSync(join(outdir, BUNDLED_SETTINGS.file), JSON.stringify(bundledSettings));
  return lambda.Code.fromAsset(outdir);
}
