import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { isAccessDenied } from '../../contracts/errors';

/** What a custom resource handler reports back to CloudFormation. */
export interface CustomResourceResult {
  readonly physicalResourceId: string;
  readonly data?: Readonly<Record<string, string>>;
}

/** CloudFormation shows at most about 4 KB of a failure reason. */
const MAX_REASON = 3_500;

/**
 * Sends the custom resource's answer to the pre-signed URL CloudFormation waits on. Without
 * it the stack hangs for an hour, so the handler calls this on every path.
 */
export async function sendCfnResponse(
  event: CloudFormationCustomResourceEvent,
  outcome: { readonly status: 'SUCCESS'; readonly result: CustomResourceResult } | { readonly status: 'FAILED'; readonly reason: string; readonly physicalResourceId: string },
  put: typeof fetch = fetch,
): Promise<void> {
  const problem = responseUrlProblem(event.ResponseURL);
  if (problem) throw new Error(`not a CloudFormation request: ${problem}`);
  const body = JSON.stringify({
    Status: outcome.status,
    Reason: outcome.status === 'FAILED' ? outcome.reason.slice(0, MAX_REASON) : 'OK',
    PhysicalResourceId: outcome.status === 'SUCCESS' ? outcome.result.physicalResourceId : outcome.physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    NoEcho: false,
    Data: outcome.status === 'SUCCESS' ? (outcome.result.data ?? {}) : {},
  });
  const response = await put(event.ResponseURL, {
    method: 'PUT',
    // The pre-signed URL is signed without a content type.
    headers: { 'content-type': '', 'content-length': String(Buffer.byteLength(body)) },
    body,
  });
  if (!response.ok) {
    throw new Error(`CloudFormation did not accept the response: HTTP ${response.status}`);
  }
}

/**
 * True for what looks like a CloudFormation custom resource request: a function that also
 * serves the console or a schedule tells the two apart with it.
 */
export function isCloudFormationRequest(event: unknown): event is CloudFormationCustomResourceEvent {
  if (typeof event !== 'object' || event === null) return false;
  const fields = event as Record<string, unknown>;
  return typeof fields.RequestType === 'string' && typeof fields.ResponseURL === 'string' && typeof fields.StackId === 'string';
}

/**
 * Why CloudFormation could not have sent this response URL, or undefined. Whoever may invoke a
 * function could otherwise have it send a request to any address: only an HTTPS URL of an AWS
 * host (the pre-signed S3 URL CloudFormation waits on) is answered.
 */
export function responseUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'ResponseURL is not a URL';
  }
  if (parsed.protocol !== 'https:') return 'ResponseURL is not HTTPS';
  if (!/\.amazonaws\.com(\.cn)?$/.test(parsed.hostname)) return `ResponseURL host ${parsed.hostname} is not an AWS host`;
  return undefined;
}

/**
 * Serves a custom resource whose only work is `run` on Create and Update (Delete does nothing):
 * answers CloudFormation on every path, FAILED with the reason when `run` throws.
 */
export async function serveDeployStep(
  event: CloudFormationCustomResourceEvent,
  physicalResourceId: string,
  run: () => Promise<Readonly<Record<string, string>>>,
  put: typeof fetch = fetch,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<void> {
  const problem = responseUrlProblem(event.ResponseURL);
  if (problem) throw new Error(`not a CloudFormation request: ${problem}`);
  if (event.RequestType === 'Delete') {
    await sendCfnResponse(event, { status: 'SUCCESS', result: { physicalResourceId: event.PhysicalResourceId } }, put);
    return;
  }
  try {
    const data = await untilPermissionsArrive(run, sleep);
    await sendCfnResponse(event, { status: 'SUCCESS', result: { physicalResourceId, data } }, put);
  } catch (error) {
    const reason = `${(error as { name?: string }).name ?? 'Error'}: ${error instanceof Error ? error.message : String(error)}`;
    await sendCfnResponse(event, { status: 'FAILED', reason, physicalResourceId: event.RequestType === 'Update' ? event.PhysicalResourceId : physicalResourceId }, put);
  }
}

/** How long a deploy step waits for a role's new permissions to reach every AWS service. */
const PERMISSION_WAIT_ATTEMPTS = 8;
const PERMISSION_WAIT_MS = 10_000;

/**
 * IAM is eventually consistent: a step that runs right after its role's policy was created can
 * be refused for some seconds. Access denied is retried for about a minute, then reported.
 */
async function untilPermissionsArrive<T>(run: () => Promise<T>, sleep: (ms: number) => Promise<void>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (!isAccessDenied(error) || attempt >= PERMISSION_WAIT_ATTEMPTS) throw error;
      await sleep(PERMISSION_WAIT_MS);
    }
  }
}
