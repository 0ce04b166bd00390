import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { isCloudFormationRequest, responseUrlProblem, serveDeployStep } from '../../lambda/shared/cfn-response';

/**
 * The planner and the drill function also serve CloudFormation (the reports made at deploy).
 * Whoever may invoke them could send a custom resource event of their own: the function answers
 * only a pre-signed URL of an AWS host, and such an event can do no more than the daily report.
 */

const event = (changes: Partial<Record<string, unknown>> = {}): CloudFormationCustomResourceEvent =>
  ({
    RequestType: 'Create',
    ServiceToken: 'arn:aws:lambda:eu-west-1:111122223333:function:planner',
    ResponseURL: 'https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/arn%3Aaws/x?X-Amz-Signature=abc',
    StackId: 'arn:aws:cloudformation:eu-west-1:111122223333:stack/jobs/1',
    RequestId: 'r-1',
    LogicalResourceId: 'AgesAtDeploy',
    ResourceType: 'Custom::BackupAgesAtDeploy',
    ResourceProperties: { ServiceToken: 'x' },
    ...changes,
  }) as CloudFormationCustomResourceEvent;

function recordingPut() {
  const sent: { url: string; body: Record<string, unknown> }[] = [];
  const put = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
    sent.push({ url: String(url), body: JSON.parse(String(init?.body)) as Record<string, unknown> });
    return new Response('', { status: 200 });
  });
  return { put: put as unknown as typeof fetch, sent };
}

describe('deploy steps served by a job function', () => {
  it('tells a CloudFormation request from the job events', () => {
    expect(isCloudFormationRequest(event())).toBe(true);
    expect(isCloudFormationRequest({ action: 'report-ages' })).toBe(false);
    expect(isCloudFormationRequest({ RequestType: 'Create' })).toBe(false);
    expect(isCloudFormationRequest(null)).toBe(false);
  });

  it.each([
    ['http://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/x', /not HTTPS/],
    ['https://attacker.example.com/collect', /not an AWS host/],
    ['https://amazonaws.com.attacker.example/x', /not an AWS host/],
    ['https://169.254.169.254/latest/meta-data/', /not an AWS host/],
    ['not a url', /not a URL/],
  ])('refuses to answer %s, runs nothing and sends nothing', async (url, reason) => {
    expect(responseUrlProblem(url)).toMatch(reason);
    const { put, sent } = recordingPut();
    const run = vi.fn(async () => ({}));
    await expect(serveDeployStep(event({ ResponseURL: url }), 'id', run, put)).rejects.toThrow(reason);
    expect(run).not.toHaveBeenCalled();
    expect(sent).toEqual([]);
  });

  it('runs on Create and Update and answers SUCCESS with the data', async () => {
    const { put, sent } = recordingPut();
    await serveDeployStep(event(), 'backup-ages-at-deploy', async () => ({ TargetTiers: '7' }), put);
    await serveDeployStep(event({ RequestType: 'Update', PhysicalResourceId: 'backup-ages-at-deploy', OldResourceProperties: {} }), 'backup-ages-at-deploy', async () => ({ TargetTiers: '8' }), put);
    expect(sent.map((answer) => [answer.body.Status, answer.body.PhysicalResourceId, answer.body.Data])).toEqual([
      ['SUCCESS', 'backup-ages-at-deploy', { TargetTiers: '7' }],
      ['SUCCESS', 'backup-ages-at-deploy', { TargetTiers: '8' }],
    ]);
  });

  it('does nothing on Delete but answer', async () => {
    const { put, sent } = recordingPut();
    const run = vi.fn(async () => ({}));
    await serveDeployStep(event({ RequestType: 'Delete', PhysicalResourceId: 'backup-ages-at-deploy' }), 'backup-ages-at-deploy', run, put);
    expect(run).not.toHaveBeenCalled();
    expect(sent[0]?.body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'backup-ages-at-deploy' });
  });

  it("retries access denied while the role's new permissions spread through IAM, then succeeds", async () => {
    const { put, sent } = recordingPut();
    let calls = 0;
    const sleeps: number[] = [];
    await serveDeployStep(event(), 'backup-ages-at-deploy', async () => {
      calls += 1;
      if (calls < 3) throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
      return { TargetTiers: '2' };
    }, put, async (ms) => {
      sleeps.push(ms);
    });
    expect(calls).toBe(3);
    expect(sleeps).toEqual([10_000, 10_000]);
    expect(sent[0]?.body).toMatchObject({ Status: 'SUCCESS' });
  });

  it('gives up on access denied after about a minute and answers FAILED with it', async () => {
    const { put, sent } = recordingPut();
    let calls = 0;
    await serveDeployStep(event(), 'backup-ages-at-deploy', async () => {
      calls += 1;
      throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
    }, put, async () => undefined);
    expect(calls).toBe(8);
    expect(sent[0]?.body).toMatchObject({ Status: 'FAILED', Reason: 'AccessDenied: Access Denied' });
  });

  it('answers FAILED with the reason when the step throws, so the deploy stops with it', async () => {
    const { put, sent } = recordingPut();
    await serveDeployStep(event(), 'backup-ages-at-deploy', async () => {
      throw Object.assign(new Error('The bucket does not exist'), { name: 'NoSuchBucket' });
    }, put);
    expect(sent[0]?.body).toMatchObject({ Status: 'FAILED', Reason: 'NoSuchBucket: The bucket does not exist', PhysicalResourceId: 'backup-ages-at-deploy' });
  });
});
