import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NestedStack, type App } from 'aws-cdk-lib';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { BackupKitConfigInput } from '../../lib/config/config';

/**
 * The figures of every synthesized stack, nested ones included, that CloudFormation and Lambda
 * limit: resources, outputs and parameters per stack, the template's size (CDK uploads templates
 * to S3, where CloudFormation takes up to 1 MB), and the largest function environment.
 */

/** CloudFormation's and Lambda's quotas the app must stay within. */
export const LIMITS = { resources: 500, outputs: 200, parameters: 200, templateBytes: 1_000_000, environmentBytes: 4096 } as const;

export interface StackFigures {
  readonly name: string;
  readonly nested: boolean;
  readonly resources: number;
  readonly outputs: number;
  readonly parameters: number;
  readonly templateBytes: number;
  readonly alarms: number;
}

export interface AppFigures {
  readonly stacks: readonly StackFigures[];
  readonly largestEnvironment: { readonly bytes: number; readonly where: string };
}

interface TemplateJson {
  readonly Resources?: Record<string, { readonly Type: string; readonly Properties?: Record<string, unknown> }>;
  readonly Outputs?: Record<string, unknown>;
  readonly Parameters?: Record<string, unknown>;
}

/** Lambda counts the keys and values of an environment; an unresolved reference counts as the JSON CloudFormation gets. */
function environmentBytes(properties: Record<string, unknown> | undefined): number {
  const variables = ((properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<string, unknown>;
  return Object.entries(variables).reduce((sum, [key, value]) => sum + key.length + (typeof value === 'string' ? value.length : JSON.stringify(value).length), 0);
}

export function appFigures(app: App, assembly: CloudAssembly): AppFigures {
  // The files as written: CDK uploads them as they are, indentation included.
  const templates: { name: string; nested: boolean; body: string }[] = assembly.stacks.map((stack) => ({ name: stack.stackName, nested: false, body: readFileSync(stack.templateFullPath, 'utf8') }));
  for (const construct of app.node.findAll()) {
    if (!NestedStack.isNestedStack(construct)) continue;
    const parent = construct.nestedStackParent?.stackName ?? '?';
    templates.push({ name: `${parent}/${construct.node.id}`, nested: true, body: readFileSync(join(assembly.directory, construct.templateFile), 'utf8') });
  }
  let largestEnvironment = { bytes: 0, where: '-' };
  const stacks = templates.map(({ name, nested, body }) => {
    const template = JSON.parse(body) as TemplateJson;
    const resources = Object.entries(template.Resources ?? {});
    for (const [id, resource] of resources) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      const bytes = environmentBytes(resource.Properties);
      if (bytes > largestEnvironment.bytes) largestEnvironment = { bytes, where: `${name}/${id}` };
    }
    return {
      name,
      nested,
      resources: resources.length,
      outputs: Object.keys(template.Outputs ?? {}).length,
      parameters: Object.keys(template.Parameters ?? {}).length,
      templateBytes: Buffer.byteLength(body),
      alarms: resources.filter(([, resource]) => resource.Type === 'AWS::CloudWatch::Alarm').length,
    };
  });
  return { stacks, largestEnvironment };
}

/** Every figure over its limit, named; empty when the app fits. */
export function limitProblems(figures: AppFigures): string[] {
  const problems: string[] = [];
  for (const stack of figures.stacks) {
    for (const field of ['resources', 'outputs', 'parameters', 'templateBytes'] as const) {
      if (stack[field] > LIMITS[field]) problems.push(`${stack.name}: ${stack[field]} ${field}, over CloudFormation's ${LIMITS[field]}`);
    }
  }
  if (figures.largestEnvironment.bytes > LIMITS.environmentBytes) problems.push(`${figures.largestEnvironment.where}: environment of ${figures.largestEnvironment.bytes} bytes, over Lambda's ${LIMITS.environmentBytes}`);
  return problems;
}

type TargetInput = NonNullable<BackupKitConfigInput['targets']>[number];

/** Target `index` of a generated estate: the four kinds in turn, each on its own instance, in every tier. */
export function generatedTarget(index: number): TargetInput {
  const name = `t${String(index).padStart(3, '0')}-app`;
  const instances = { instanceIds: [`i-0${index.toString(16).padStart(16, '0')}`] };
  switch (index % 4) {
    case 0:
      return { name, kind: 'postgres', instances, host: '127.0.0.1', database: `db${index}`, user: 'backup', password: { ssmParameter: `/apps/${name}/db-password` } };
    case 1:
      return { name, kind: 'mysql', instances, host: '127.0.0.1', database: `db${index}`, user: 'backup', password: { secretId: `apps/${name}/mysql` } };
    case 2:
      return { name, kind: 'sqlite', instances, path: `/srv/${name}/app.sqlite3` };
    default:
      return { name, kind: 'files', instances, path: `/srv/${name}/media`, excludes: ['cache/*'] };
  }
}
