import type { CloudFormationCustomResourceEvent } from 'aws-lambda';

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
