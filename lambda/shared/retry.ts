import { PermissionError, isAccessDenied } from '../../contracts/errors';

/** Error names AWS services use when they throttle a caller. */
const THROTTLING_NAMES = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'PriorRequestNotComplete',
]);

/** True for an SDK error that means "too many requests, try again later". */
export function isThrottling(error: unknown): boolean {
  const candidate = error as { name?: string; $metadata?: { httpStatusCode?: number }; $retryable?: { throttling?: boolean } } | undefined;
  return (
    THROTTLING_NAMES.has(candidate?.name ?? '') ||
    candidate?.$metadata?.httpStatusCode === 429 ||
    candidate?.$retryable?.throttling === true
  );
}

export interface RetryOptions {
  /**
   * Attempts in all, the first included.
   * @default 5
   */
  readonly attempts?: number;
  /**
   * First backoff; each retry doubles it, with full jitter.
   * @default 200 ms
   */
  readonly baseDelayMs?: number;
  /**
   * Longest single wait.
   * @default - no cap
   */
  readonly maxDelayMs?: number;
  /**
   * Which errors are worth another attempt.
   * @default - throttling only (`isThrottling`)
   */
  readonly retryable?: (error: unknown) => boolean;
  /** Waits between attempts (tests pass one that does not wait). */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * The jitter source, 0..1 (tests pass a constant).
   * @default Math.random
   */
  readonly random?: () => number;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `call`, retrying throttling errors with exponential backoff and full jitter. The SDK
 * retries too, but an incident is when APIs throttle most: a restore must not fail because
 * the console, other tooling and this function all describe instances at once. Other errors
 * are thrown at once.
 */
export async function withThrottlingRetry<T>(call: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 5);
  const base = options.baseDelayMs ?? 200;
  const sleep = options.sleep ?? realSleep;
  const retryable = options.retryable ?? isThrottling;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (!retryable(error) || attempt >= attempts) throw error;
      await sleep(random() * Math.min(base * 2 ** (attempt - 1), options.maxDelayMs ?? Number.POSITIVE_INFINITY));
    }
  }
}

/**
 * One AWS call as the jobs make it: throttling retried, and a refusal turned into a
 * `PermissionError` naming the IAM action, so the answer says what to fix.
 */
export async function awsCall<T>(action: string, call: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  try {
    return await withThrottlingRetry(call, options);
  } catch (error) {
    if (isAccessDenied(error)) throw new PermissionError(action, error);
    throw error;
  }
}
