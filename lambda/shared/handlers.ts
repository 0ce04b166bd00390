import type { Context } from 'aws-lambda';
import { InvalidEventError, PermissionError, RequestRejectedError, errorMessage } from '../../contracts/errors';
import { rejectedAnswer, type RejectedAnswer } from './answer';
import type { Logger } from './powertools';

/**
 * The two ways a function of the kit is invoked, each wrapped once: by an engineer from the
 * console (a refusal is an answer, anything else fails the invocation) and by an event (the
 * request context in every log line, a refused event logged and thrown). Metrics are published
 * by the cores, once per dimension set (one EMF document per target and tier), not here.
 */

export interface ConsoleJob {
  readonly logger: Logger;
  /** What the job is called in log lines and messages: 'restore', 'S3 version restore'. */
  readonly job: string;
  /** What a refusal left alone, said last: 'Nothing was sent.' */
  readonly unchanged: string;
  /** Added to an IAM refusal: what the role may do, and what to check. */
  readonly permissionHint: string;
  /** The error thrown for anything unexpected, from its message (the Errors alarm sees it). */
  readonly failure: (message: string, context: Context | undefined) => Error;
}

/**
 * A console handler: `run`'s answer with `ok: true`; a refused event or request (invalid field,
 * unknown name, IAM) answered `{ ok: false, error, field, reason, message }` with nothing changed;
 * anything else logged and thrown as `job.failure`.
 */
export function consoleHandler<A extends object>(
  job: ConsoleJob,
  run: (event: unknown, context: Context | undefined) => Promise<A>,
): (event: unknown, context?: Context) => Promise<(A & { ok: true }) | RejectedAnswer> {
  return async (event, context) => {
    if (context) job.logger.addContext(context);
    try {
      return { ok: true, ...(await run(event, context)) };
    } catch (error) {
      if (error instanceof InvalidEventError || error instanceof RequestRejectedError) {
        const answer = rejectedAnswer(error);
        job.logger.warn(`${job.job} refused; ${job.unchanged.toLowerCase()}`, { answer });
        return answer;
      }
      if (error instanceof PermissionError) {
        const answer = rejectedAnswer(error);
        job.logger.error(`${job.job} refused by IAM; ${job.unchanged.toLowerCase()}`, { action: error.action, answer });
        return { ...answer, message: `${answer.message} ${job.permissionHint} ${job.unchanged}` };
      }
      job.logger.error(`${job.job} failed`, { error: errorMessage(error) });
      throw job.failure(errorMessage(error), context);
    }
  };
}

export interface EventJob {
  readonly logger: Logger;
  /** What the job is called in log lines: 'backup trigger'. */
  readonly job: string;
  /** What a refused or failed event left alone, for the log line: 'nothing was sent'. */
  readonly unchanged: string;
}

/**
 * An event handler (schedules, EventBridge rules, async invocations): the request context in
 * every log line; a refused event logged as a warning and a failure as an error, both thrown so
 * Lambda's retries and the dead-letter queue see them.
 */
export function eventHandler<A>(job: EventJob, run: (event: unknown, context: Context | undefined) => Promise<A>): (event: unknown, context?: Context) => Promise<A> {
  return async (event, context) => {
    if (context) job.logger.addContext(context);
    try {
      return await run(event, context);
    } catch (error) {
      if (error instanceof InvalidEventError || error instanceof RequestRejectedError) {
        job.logger.warn(`${job.job}: event refused; ${job.unchanged}`, { event, error: error.message });
      } else {
        job.logger.error(`${job.job} failed; ${job.unchanged}`, { error: errorMessage(error) });
      }
      throw error;
    }
  };
}

/** What a console restore handler is told of its job: `failure` is the error class of a failure the engineer cannot fix by changing the event. */
export interface ConsoleRestoreJob extends Omit<ConsoleJob, 'failure' | 'unchanged'> {
  readonly failure: new (message: string) => Error;
}

/** A console restore: how its event is read, shown in the log, run, and its answer shown in the log. */
export interface ConsoleRestore<Q extends { readonly requestedBy?: string | undefined }, A extends object> {
  readonly parse: (event: unknown) => Q;
  /** The request as logged (times as ISO strings). */
  readonly logged: (request: Q) => Record<string, unknown>;
  readonly run: (request: Q, invocation: { readonly requestId: string; readonly now: Date }) => Promise<A>;
  readonly answered: (answer: A) => Record<string, unknown>;
}

/**
 * A restore an engineer starts from the console: the request logged with who asked, run with the
 * invocation's request ID and clock, the answer logged; a refusal answered as `consoleHandler`
 * answers it (nothing changed), anything else thrown as `job.failure` with the request ID.
 */
export function consoleRestoreHandler<Q extends { readonly requestedBy?: string | undefined }, A extends object>(job: ConsoleRestoreJob, restore: ConsoleRestore<Q, A>) {
  return consoleHandler(
    { ...job, unchanged: 'Nothing was changed.', failure: (message, context) => new job.failure(`restore failed: ${message} (request ${context?.awsRequestId ?? 'unknown'}; see the function's logs)`) },
    async (event, context): Promise<A> => {
      const request = restore.parse(event);
      job.logger.info(`${job.job} requested`, { request: restore.logged(request), requestedBy: request.requestedBy ?? 'unspecified', invokedFunctionArn: context?.invokedFunctionArn });
      const answer = await restore.run(request, { requestId: context?.awsRequestId ?? 'unknown', now: new Date() });
      job.logger.info(`${job.job} answered`, restore.answered(answer));
      return answer;
    },
  );
}
