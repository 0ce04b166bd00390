/** True for SDK errors that mean "slow down" (the request itself was fine). */
export function isThrottling(error: unknown): boolean {
  const candidate = error as { name?: string; $retryable?: { throttling?: boolean } } | undefined;
  if (candidate?.$retryable?.throttling === true) return true;
  return /Throttl|TooManyRequests|RequestLimitExceeded|RateExceeded|SlowDown/i.test(candidate?.name ?? '');
}

export interface BackoffOptions {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  /** Delay before the second attempt; doubles each time up to `maxDelayMs`. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Which errors are worth another attempt. */
  readonly retryable: (error: unknown) => boolean;
  /** Waits; tests pass one that records the delay and returns at once. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** 0..1; tests pass a constant. */
  readonly random?: () => number;
}

export const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/**
 * Runs `operation`, retrying retryable errors with exponential backoff and jitter (half fixed,
 * half random, so parallel callers spread out). This sits above the SDK's own short retries,
 * for quotas such as SendCommand's that stay exceeded for seconds.
 */
export async function withBackoff<T>(operation: () => Promise<T>, options: BackoffOptions): Promise<T> {
  const wait = options.sleep ?? sleep;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= options.attempts || !options.retryable(error)) throw error;
      const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
      await wait(Math.round(ceiling / 2 + (random() * ceiling) / 2));
    }
  }
}
