import { InvalidEventError, PermissionError, RequestRejectedError } from '../../contracts/errors';

/**
 * What a console-invoked job answers when it refuses a request: the reason in words, and for a
 * bad event each field at fault. Nothing was changed. Anything else is rethrown so the
 * function's Errors metric and alarm see it.
 */
export interface RejectedAnswer {
  readonly ok: false;
  readonly error: 'InvalidEvent' | 'RequestRejected' | 'PermissionDenied';
  readonly message: string;
  readonly issues?: readonly string[];
  readonly details?: Readonly<Record<string, unknown>>;
}

export function rejectedAnswer(error: unknown): RejectedAnswer {
  if (error instanceof InvalidEventError) {
    return { ok: false, error: 'InvalidEvent', message: `${error.message}. Nothing was changed.`, issues: error.issues };
  }
  if (error instanceof RequestRejectedError) {
    return {
      ok: false,
      error: 'RequestRejected',
      message: `${error.message}. Nothing was changed.`,
      ...(error.details ? { details: error.details } : {}),
    };
  }
  if (error instanceof PermissionError) {
    return { ok: false, error: 'PermissionDenied', message: `${error.message}. Check the function's role.` };
  }
  throw error;
}
