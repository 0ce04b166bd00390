import { Stack, Validations, type CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** How cdk-nag spells the ARN attribute of a resource in the finding IDs of AwsSolutions-IAM5. */
export function nagArnOf(resource: CfnResource, suffix = ''): string {
  return `<${Stack.of(resource).getLogicalId(resource)}.Arn>${suffix}`;
}

/**
 * Acknowledges specific AwsSolutions-IAM5 wildcard findings (`Resource::...` or `Action::...`)
 * on a construct, each with the project's reason. Unlisted wildcards still fail synth.
 */
export function acknowledgeWildcards(scope: IConstruct, findings: readonly string[], reason: string): void {
  for (const finding of findings) {
    Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });
  }
}

/**
 * How cdk-nag spells an ARN token in an AwsSolutions-IAM5 finding, from where `scope` uses it:
 * `<Logical.Arn>` in its own stack, the export name when it comes from another stack. Only
 * meaningful once cross-stack references are resolved (at synth), see `acknowledgeWildcardsAtSynth`.
 */
export function nagSpellingOf(scope: IConstruct, arn: string): string {
  const resolved: unknown = Stack.of(scope).resolve(arn);
  if (typeof resolved === 'string') return resolved;
  const value = resolved as { 'Fn::GetAtt'?: [string, string]; 'Fn::ImportValue'?: string };
  if (value['Fn::GetAtt']) return `<${value['Fn::GetAtt'][0]}.${value['Fn::GetAtt'][1]}>`;
  if (typeof value['Fn::ImportValue'] === 'string') return value['Fn::ImportValue'];
  return JSON.stringify(resolved);
}

/**
 * Like `acknowledgeWildcards`, for findings that name resources of other stacks: their spelling
 * (an export name) exists only after synth resolves the references, so the acknowledgement is
 * computed then. The findings still have to match exactly.
 */
export function acknowledgeWildcardsAtSynth(scope: IConstruct, findings: () => readonly string[], reason: string): void {
  let done = false;
  scope.node.addValidation({
    validate: () => {
      if (!done) acknowledgeWildcards(scope, findings(), reason);
      done = true;
      return [];
    },
  });
}
