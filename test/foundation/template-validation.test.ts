import { App, CfnResource, Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { templateTestApp } from '../support/app';

/**
 * CloudFormation's template rules (the validation aws-cdk-lib runs at synth) fail the synth, as
 * cdk.json sets: a template CloudFormation would refuse never reaches a deploy. The test run turns
 * the validation off for its own apps (vitest.config.mts says why); this file, isolated in its own
 * worker, turns it back on.
 */
delete process.env.CDK_VALIDATION;

function synthQueue(app: App, visibilityTimeout: unknown): () => void {
  const stack = new Stack(app, 'Validated', { env: { account: '111122223333', region: 'eu-west-1' } });
  new CfnResource(stack, 'Queue', { type: 'AWS::SQS::Queue', properties: { VisibilityTimeout: visibilityTimeout } });
  return () => app.synth();
}

describe('CloudFormation template validation at synth', () => {
  it('GIVEN the flags of cdk.json and a property CloudFormation refuses THEN synth fails naming the resource, the property and the rule', () => {
    expect(synthQueue(templateTestApp(), 'eleven minutes')).toThrow(/VisibilityTimeout: 'eleven minutes' is not of type 'integer'[\s\S]*Validated\/Queue[\s\S]*CloudFormation-Validate::F3012/);
  });

  it('GIVEN the flags of cdk.json and a valid property THEN synth succeeds', () => {
    expect(synthQueue(templateTestApp(), 660)).not.toThrow();
  });

  it('GIVEN aws-cdk-lib without the cdk.json flag THEN the same refusal is only a warning: the flag is what fails it', () => {
    expect(synthQueue(new App(), 'eleven minutes')).not.toThrow();
  });
});
