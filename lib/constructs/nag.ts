import { Stack, Validations, type CfnResource } from 'aws-cdk-lib';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
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
 * Acknowledges the AwsSolutions-IAM5 findings of specific wildcard resources, spelled as
 * cdk-nag spells them. The spelling is computed when the app validates, after cross-stack
 * references have become imports, so it also fits resources of another stack (the backup
 * bucket's ARN in the jobs stack). Other wildcards still fail synth.
 */
export function acknowledgeWildcardResources(scope: IConstruct, resources: readonly string[], reason: string): void {
  scope.node.addValidation({
    validate: () => {
      const stack = Stack.of(scope);
      acknowledgeWildcards(
        scope,
        resources.map((resource) => `Resource::${flattenCfnReference(stack.resolve(resource))}`),
        reason,
      );
      return [];
    },
  });
}
