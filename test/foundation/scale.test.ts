import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { exampleConfig } from '../../config/example';
import { loadConfig, type BackupKitConfigInput } from '../../lib/config/config';
import { buildApp, type BackupKitStacks } from '../../lib/app';
import { TemplateResolver } from '../support/iam';
import { appFigures, generatedTarget, limitProblems, type AppFigures } from '../support/stack-limits';

/**
 * 500 targets in one deployment: every stack (nested ones included) within CloudFormation's
 * limits, every function's environment within Lambda's, every role's policies within IAM's, and
 * the jobs stack's resources and alarms flat in the number of targets. cdk-nag runs, as at synth.
 */

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function synthesized(input: BackupKitConfigInput, nag: boolean): { stacks: BackupKitStacks; figures: AppFigures } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const { config, warnings } = loadConfig(input);
  const stacks = buildApp(app, config, { warnings, nag });
  return { stacks, figures: appFigures(app, app.synth()) };
}

const estate = (count: number): BackupKitConfigInput => ({
  ...exampleConfig,
  targets: Array.from({ length: count }, (_, index) => generatedTarget(index)),
  restore: { ...exampleConfig.restore, targets: {}, servers: {}, drills: { ...exampleConfig.restore?.drills, rebuilds: [] } },
});

// The small estate is only the baseline of the counts; the large one passes cdk-nag as a synth would.
const small = synthesized(estate(4), false);
const large = synthesized(estate(500), true);
const stackNamed = (figures: AppFigures, name: string) => figures.stacks.find((stack) => stack.name === name);

/** IAM counts a policy's characters without white space. */
const iamSize = (document: Json) => JSON.stringify(document).replace(/\s+/g, '').length;

describe('500 targets in one deployment', () => {
  it('GIVEN 500 targets WHEN synthesized with cdk-nag THEN every stack, nested ones included, and every function environment is within its limit', () => {
    expect(limitProblems(large.figures)).toEqual([]);
    expect(large.figures.stacks.filter((stack) => stack.nested).length).toBeGreaterThan(0);
  });

  it('GIVEN 4 or 500 targets THEN the parent stacks grow by a nested stack per 60 targets and a policy per 70 instances, their outputs and the alarms not at all', () => {
    for (const name of ['backup-kit-jobs', 'backup-kit-restore-dr']) {
      const grown = (stackNamed(large.figures, name)?.resources ?? 0) - (stackNamed(small.figures, name)?.resources ?? 0);
      // A nested stack of instance policies per 60 targets (backup and restore ones in the jobs stack,
      // restore ones in the DR stack), and per role that sends commands a managed policy per 70 instances.
      const nested = Math.ceil(500 / 60);
      const instanceGrants = Math.ceil(500 / 70);
      expect(grown, name).toBeLessThanOrEqual(name === 'backup-kit-jobs' ? 2 * nested + 3 * instanceGrants : nested + instanceGrants);
      expect(stackNamed(large.figures, name)?.outputs, name).toBe(stackNamed(small.figures, name)?.outputs);
    }
    const alarms = (figures: AppFigures) => figures.stacks.reduce((sum, stack) => sum + stack.alarms, 0);
    expect(alarms(large.figures)).toBe(alarms(small.figures));
  });

  it("GIVEN 500 targets THEN every role's policies fit IAM: at most 10 managed policies of 6,144 characters, and 10,240 characters inline", () => {
    const problems: string[] = [];
    for (const stack of [large.stacks.jobs, ...(large.stacks.restoreDr ? [large.stacks.restoreDr] : [])]) {
      const resolver = new TemplateResolver([large.stacks.storage, large.stacks.replicaStorage, stack]);
      const inline = resolver.resourcesOf(stack, 'AWS::IAM::Policy');
      const managed = resolver.resourcesOf(stack, 'AWS::IAM::ManagedPolicy');
      for (const [id, properties] of managed) {
        const size = iamSize(resolver.resolve(properties.PolicyDocument ?? null, stack));
        if (size > 6144) problems.push(`${stack.stackName}/${id}: managed policy of ${size} characters`);
      }
      for (const [roleId] of resolver.resourcesOf(stack, 'AWS::IAM::Role')) {
        const attachedTo = (properties: Record<string, Json>) => ((properties.Roles ?? []) as { Ref?: string }[]).some((ref) => ref.Ref === roleId);
        const inlineSize = inline.filter(([, properties]) => attachedTo(properties)).reduce((sum, [, properties]) => sum + iamSize(resolver.resolve(properties.PolicyDocument ?? null, stack)), 0);
        const attached = managed.filter(([, properties]) => attachedTo(properties)).length;
        if (inlineSize > 10_240) problems.push(`${stack.stackName}/${roleId}: ${inlineSize} characters of inline policy`);
        if (attached > 10) problems.push(`${stack.stackName}/${roleId}: ${attached} managed policies attached`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('GIVEN 500 instances named by ID THEN the trigger may still send to each of them, and to no other', () => {
    const stack = large.stacks.jobs;
    const resolver = new TemplateResolver([large.stacks.storage, large.stacks.replicaStorage, stack]);
    const [triggerRole] = resolver.resourcesOf(stack, 'AWS::IAM::Role').find(([id]) => id.startsWith('BackupJobsTriggerRole')) ?? [];
    const named = resolver
      .resourcesOf(stack, 'AWS::IAM::ManagedPolicy')
      .filter(([, properties]) => ((properties.Roles ?? []) as { Ref?: string }[]).some((ref) => ref.Ref === triggerRole))
      .flatMap(([, properties]) => ((resolver.resolve(properties.PolicyDocument ?? null, stack) as { Statement: { Sid?: string; Resource: string[] }[] }).Statement))
      .filter((statement) => statement.Sid === 'SendToTargetInstances')
      .flatMap((statement) => statement.Resource);
    const expected = Array.from({ length: 500 }, (_, index) => `arn:aws:ec2:eu-west-1:111122223333:instance/i-0${index.toString(16).padStart(16, '0')}`);
    expect([...named].sort()).toEqual(expected.sort());
  });
});
