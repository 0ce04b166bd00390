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
