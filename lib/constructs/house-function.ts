import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRIC_NAMESPACE } from '../../contracts/metric-catalog';

/** The newest Node.js runtime Lambda offers; one place to move when AWS adds the next. */
export const HOUSE_RUNTIME = lambda.Runtime.NODEJS_24_X;

export interface HouseFunctionProps extends Omit<nodejs.NodejsFunctionProps, 'logGroup' | 'logRetention' | 'role'> {
  /** Path of the handler file (`lambda/<job>/handler.ts`). */
  readonly entry: string;
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
 * The house NodejsFunction: latest Node.js runtime on ARM64, minified bundle with source maps,
 * an explicit KMS-encrypted log group with retention, and a role that can write only to that
 * log group. Caller options are merged over the defaults (bundling and environment key by key),
 * never replacing them wholesale.
 */
export class HouseFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: HouseFunctionProps) {
    super(scope, id);
    const { logKey, logRetention, serviceName, roleName, bundling, environment, description, ...rest } = props;
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

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      runtime: HOUSE_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout,
      ...rest,
      description,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: serviceName ?? id,
        POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
        ...environment,
      },
      bundling: {
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        target: 'node24',
        // The SDK is bundled so the function runs the versions the tests ran.
        externalModules: [],
        ...bundling,
      },
    });
    // Lambda always adds DependsOn on its role (so the role's policy exists first); cfn-lint flags
    // the role half as redundant with the GetAtt (W3005). The dependency is deliberate.
    (this.function.node.defaultChild as lambda.CfnFunction).addMetadata('cfn-lint', { config: { ignore_checks: ['W3005'] } });
  }
}
