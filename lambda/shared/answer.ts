import { InvalidEventError, PermissionError, RequestRejectedError } from '../../contracts/errors';

/**
 * What a console-invoked job answers when it refuses a request: the reason in words, and for a
 * bad event each field at fault. Nothing was changed. Anything else is rethrown so the
 * function's Errors metric and alarm see it.
 */
export interface RejectedAnswer {
  readonly ok: false;
  readonly error: 'InvalidEvent' | 'RequestRejected' | 'PermissionDenied';
  /** The event field at fault, when one is (the first, when several are). */
  readonly field?: string;
  /** Why, in words, without the field's name. */
  readonly reason: string;
  readonly message: string;
  readonly issues?: readonly string[];
  readonly details?: Readonly<Record<string, unknown>>;
}

export function rejectedAnswer(error: unknown): RejectedAnswer {
  if (error instanceof InvalidEventError) {
    return { ok: false, error: 'InvalidEvent', ...fieldAndReason(error.issues[0] ?? error.message), message: `${error.message}. Nothing was changed.`, issues: error.issues };
  }
  if (error instanceof RequestRejectedError) {
    return {
      ok: false,
      error: 'RequestRejected',
      ...fieldAndReason(error.message),
      message: `${error.message}. Nothing was changed.`,
      ...(error.details ? { details: error.details } : {}),
    };
  }
  if (error instanceof PermissionError) {
    return { ok: false, error: 'PermissionDenied', reason: error.message, message: `${error.message}. Check the function's role.` };
  }
  throw error;
}

/** `field: reason` (the kit's refusals name the field first) split in two; the whole text as the reason otherwise. */
function fieldAndReason(text: string): { field?: string; reason: string } {
  const match = /^([A-Za-z][\w.[\]-]*|\(event\)): (.+)$/s.exec(text);
  return match?.[1] && match[2] ? { ...(match[1] === '(event)' ? {} : { field: match[1] }), reason: match[2] } : { reason: text };
}
