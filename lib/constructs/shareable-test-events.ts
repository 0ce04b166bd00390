import { Aws, Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as eventschemas from 'aws-cdk-lib/aws-eventschemas';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct, type IConstruct } from 'constructs';

/** The EventBridge schema registry where the Lambda console keeps shareable test events. */
export const LAMBDA_TEST_EVENT_REGISTRY = 'lambda-testevent-schemas';

export interface ShareableTestEventsProps {
  /** The function whose console Test tab lists the events. */
  readonly function: lambda.IFunction;
  /** Key of the log group of the small function that makes sure the registry exists. */
  readonly logKey: kms.IKey;
  /**
   * OpenAPI 3 schema object of the function's event, shown with the events.
   * @default - a schema that accepts any JSON object
   */
  readonly eventSchema?: Record<string, unknown>;
}

/**
 * Shareable test events of a function, which everyone with access to the account sees in the
 * Lambda console's Test tab. The console keeps them as `components.examples` of an OpenAPI 3
 * schema named `_<function name>-schema` in the `lambda-testevent-schemas` registry; the
 * console creates that registry when someone first shares an event, so a stack-wide custom
 * resource creates it if it is missing (and never deletes it: others' events live there too).
 */
export class ShareableTestEvents extends Construct {
  readonly schema: eventschemas.CfnSchema;
  private readonly examples = new Map<string, unknown>();

  constructor(scope: Construct, id: string, props: ShareableTestEventsProps) {
    super(scope, id);
    const registry = ensureRegistry(Stack.of(this), props.logKey);
    const eventSchema = props.eventSchema ?? { type: 'object' };
    this.schema = new eventschemas.CfnSchema(this, 'Schema', {
      registryName: LAMBDA_TEST_EVENT_REGISTRY,
      schemaName: `_${props.function.functionName}-schema`,
      type: 'OpenApi3',
      description: 'Shareable test events (Lambda console > Test)',
      content: Lazy.string({
        produce: () =>
          JSON.stringify({
            openapi: '3.0.0',
            info: { version: '1.0.0', title: 'Event' },
            paths: {},
            components: {
              schemas: { Event: eventSchema },
              examples: Object.fromEntries([...this.examples].map(([name, value]) => [name, { value }])),
            },
          }),
      }),
    });
    this.schema.node.addDependency(registry);
    this.node.addValidation({
      validate: () => (this.examples.size === 0 ? ['ShareableTestEvents: add at least one event with addEvent()'] : []),
    });
  }

  /** Adds an event under the name the console lists it by. */
  addEvent(name: string, value: Record<string, unknown>): this {
    if (name.trim().length === 0 || name.length > 100) {
      throw new Error(`ShareableTestEvents addEvent name: must be 1-100 characters (got '${name}')`);
    }
    if (this.examples.has(name)) {
      throw new Error(`ShareableTestEvents addEvent name: '${name}' is already used`);
    }
    this.examples.set(name, value);
    return this;
  }
}

/** One registry bootstrap per stack, whichever construct asks first. */
function ensureRegistry(stack: Stack, logKey: kms.IKey): IConstruct {
  const id = 'LambdaTestEventRegistry';
  const existing = stack.node.tryFindChild(id);
  if (existing) return existing;
  const scope = new Construct(stack, id);
  const logGroup = new logs.LogGroup(scope, 'Logs', {
    retention: logs.RetentionDays.ONE_MONTH,
    encryptionKey: logKey,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const role = new iam.Role(scope, 'Role', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `Creates the ${LAMBDA_TEST_EVENT_REGISTRY} schema registry if it is missing`,
  });
  role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
  const createRegistry: cr.AwsSdkCall = {
    service: 'schemas',
    action: 'CreateRegistry',
    parameters: { RegistryName: LAMBDA_TEST_EVENT_REGISTRY, Description: 'Shareable Lambda test events' },
    physicalResourceId: cr.PhysicalResourceId.of(LAMBDA_TEST_EVENT_REGISTRY),
    // The console or another stack may have created it already.
    ignoreErrorCodesMatching: 'ConflictException',
  };
  new cr.AwsCustomResource(scope, 'Create', {
    onCreate: createRegistry,
    onUpdate: createRegistry,
    role,
    logGroup,
    installLatestAwsSdk: false,
    policy: cr.AwsCustomResourcePolicy.fromStatements([
      new iam.PolicyStatement({
        actions: ['schemas:CreateRegistry'],
        resources: [`arn:${Aws.PARTITION}:schemas:${Aws.REGION}:${Aws.ACCOUNT_ID}:registry/${LAMBDA_TEST_EVENT_REGISTRY}`],
      }),
    ]),
  });
  return scope;
}
