import * as z from './zod';

type ZodError = z.core.$ZodError;
type ZodType = z.core.$ZodType;
type output<S extends ZodType> = z.output<S>;

/** The caller's event is invalid: `issues` name each field and why. Nothing was changed. */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
  constructor(readonly issues: readonly string[]) {
    super(`invalid event: ${issues.join('; ')}`);
  }

  static fromZod(error: ZodError): InvalidEventError {
    return new InvalidEventError(
      error.issues.map((issue) => {
        const path = issue.path.map(String).join('.');
        return `${path === '' ? '(event)' : path}: ${issue.message}`;
      }),
    );
  }
}

/** A request that is well-formed but cannot be done as asked (unknown name, outside a window...). */
export class RequestRejectedError extends Error {
  override readonly name = 'RequestRejectedError';
  constructor(message: string, readonly details?: Readonly<Record<string, unknown>>) {
    super(message);
  }
}

/** The app's own role was refused by AWS: says which action so the engineer can fix IAM. */
export class PermissionError extends Error {
  override readonly name = 'PermissionError';
  constructor(readonly action: string, cause: unknown) {
    super(`AWS refused ${action}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** True for SDK errors that mean "denied". */
export function isAccessDenied(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name ?? '';
  return /AccessDenied|UnauthorizedOperation|AuthorizationError|NotAuthorized/i.test(name);
}

/** The message of anything thrown, for logs and answers. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Parses an event with its schema; a bad event throws `InvalidEventError` naming each field. */
export function parseEventWith<S extends ZodType>(schema: S, event: unknown): output<S> {
  const parsed = z.safeParse(schema, event);
  if (!parsed.success) throw InvalidEventError.fromZod(parsed.error);
  return parsed.data as output<S>;
}
