import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { GetCommandInvocationCommand, ListCommandsCommand, type Command, type GetCommandInvocationCommandOutput, type SSMClient } from '@aws-sdk/client-ssm';
import * as z from '../../contracts/zod';
import { COMMAND_DETAIL_TYPE, INVOCATION_DETAIL_TYPE, NON_TERMINAL_STATUSES } from '../../contracts/backup-command';
import { consoleLinks } from '../../contracts/console-links';
import { redactSecrets } from './redact';
import { isThrottling, withThrottlingRetry, type RetryOptions } from './retry';

/**
 * Reading the end of one Run Command run of an instance document, the same way for every job
 * (backups, restores, drills): the status events, the command and its invocation, the exit code
 * and timing, the tail of the error output, the links an alert gives, and the alert itself.
 */

/** One instance's run reached a status (EventBridge `EC2 Command Invocation Status-change Notification`). */
export const invocationEventSchema = z.object({
  'detail-type': z.literal(INVOCATION_DETAIL_TYPE),
  source: z.literal('aws.ssm'),
  detail: z.object({
    'command-id': z.string().check(z.minLength(1)),
    'document-name': z.string().check(z.minLength(1)),
    'instance-id': z.string().check(z.minLength(1)),
    status: z.string().check(z.minLength(1)),
  }),
});
export type InvocationEvent = z.infer<typeof invocationEventSchema>;

/** The whole command reached a status (`EC2 Command Status-change Notification`). */
export const commandEventSchema = z.object({
  'detail-type': z.literal(COMMAND_DETAIL_TYPE),
  source: z.literal('aws.ssm'),
  detail: z.object({
    'command-id': z.string().check(z.minLength(1)),
    'document-name': z.string().check(z.minLength(1)),
    status: z.string().check(z.minLength(1)),
  }),
});

/** Why an event is not one to record (a status that is not final, another document), or undefined. */
export function ignoredBecause(detail: { readonly status: string; readonly 'document-name': string }, documentName: string, what: string): string | undefined {
  if ((NON_TERMINAL_STATUSES as readonly string[]).includes(detail.status)) return `status ${detail.status} is not final`;
  if (detail['document-name'] !== documentName) return `document ${detail['document-name']} is not the ${what} document`;
  return undefined;
}

export interface RunReaderDeps {
  readonly ssm: SSMClient;
  readonly retry?: Pick<RetryOptions, 'sleep' | 'random' | 'attempts'>;
}

export function runBackoff(deps: Pick<RunReaderDeps, 'retry'>): RetryOptions {
  return { attempts: 5, baseDelayMs: 500, maxDelayMs: 8000, ...deps.retry };
}

/** The command as sent: its parameters (first value each, '' when absent), version, comment, targets. */
export interface SentCommand {
  readonly command: Command;
  readonly parameter: (name: string) => string;
}

export async function readCommand(commandId: string, deps: RunReaderDeps): Promise<SentCommand> {
  const listed = await withThrottlingRetry(() => deps.ssm.send(new ListCommandsCommand({ CommandId: commandId })), runBackoff(deps));
  const command = listed.Commands?.[0];
  if (!command) throw new Error(`command ${commandId} was not found by ListCommands`);
  return { command, parameter: (name) => command.Parameters?.[name]?.[0] ?? '' };
}

/**
 * The run on one instance; retried while SSM has not made the invocation visible yet. The kit's
 * documents have one step each, so no step name is given (SSM needs one only for several steps).
 */
export async function readInvocation(commandId: string, instanceId: string, deps: RunReaderDeps): Promise<GetCommandInvocationCommandOutput> {
  return withThrottlingRetry(() => deps.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId })), {
    ...runBackoff(deps),
    retryable: (error) => isThrottling(error) || (error as Error)?.name === 'InvocationDoesNotExist',
  });
}

/** What the invocation says of how the script ended. */
export interface RunEnd {
  /** Run Command's status detail (Success, Failed, ExecutionTimedOut, DeliveryTimedOut, ...). */
  readonly status: string;
  /** The script's exit code; absent when it never ran or was stopped. */
  readonly exitCode?: number;
  readonly startedAt?: string;
  readonly durationSeconds?: number;
}

export function runEnd(invocation: GetCommandInvocationCommandOutput, fallbackStatus = 'Unknown'): RunEnd {
  const started = invocation.ExecutionStartDateTime ? Date.parse(invocation.ExecutionStartDateTime) : Number.NaN;
  const ended = invocation.ExecutionEndDateTime ? Date.parse(invocation.ExecutionEndDateTime) : Number.NaN;
  const exitCode = invocation.ResponseCode !== undefined && invocation.ResponseCode >= 0 ? invocation.ResponseCode : undefined;
  return {
    status: invocation.StatusDetails ?? invocation.Status ?? fallbackStatus,
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(Number.isNaN(started) ? {} : { startedAt: new Date(started).toISOString() }),
    ...(Number.isNaN(started) || Number.isNaN(ended) || ended < started ? {} : { durationSeconds: Math.round((ended - started) / 1000) }),
  };
}

/** Lines of error output shown in an alert, and the width each is cut to. */
const STDERR_TAIL_LINES = 20;
const STDERR_LINE_WIDTH = 300;
/** Run Command returns the first 8,000 characters of the error output. */
const STDERR_CONTENT_LIMIT = 8000;

export interface ErrorTail {
  /** The last non-empty lines, secrets redacted, each cut to 300 characters. */
  readonly lines: readonly string[];
  /** Run Command kept only the first 8,000 characters: the full output is in CloudWatch Logs. */
  readonly truncated: boolean;
}

export function errorTail(invocation: GetCommandInvocationCommandOutput): ErrorTail {
  const content = invocation.StandardErrorContent ?? '';
  const lines = content
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .slice(-STDERR_TAIL_LINES)
    .map((line) => redactSecrets(line).slice(0, STDERR_LINE_WIDTH));
  return { lines, truncated: content.length >= STDERR_CONTENT_LIMIT || /-+\s*Error truncated\s*-+/i.test(content) };
}

/** The alert's block of error output: a heading and the lines, or nothing. */
export function errorTailBlock(tail: ErrorTail): string[] {
  if (tail.lines.length === 0) return [];
  return [
    `Last lines of the error output (secrets redacted${tail.truncated ? '; Run Command kept only the first 8,000 characters, see the full output' : ''}):`,
    ...tail.lines.map((line) => `  | ${line}`),
    '',
  ];
}

/** Console links to one instance's run and to its full output in the command log group. */
export function runLinks(region: string, commandLogGroupName: string, commandId: string, instanceId: string): { readonly run: string; readonly output: string } {
  return {
    run: consoleLinks.runCommandInvocation(region, commandId, instanceId),
    output: consoleLinks.logStreams(region, commandLogGroupName, `${commandId}/${instanceId}`),
  };
}

export interface Alert {
  /** SNS subjects are at most 100 characters of one line. */
  readonly subject: string;
  readonly message: string;
}

/** Publishes the alert (subject made one line of at most 100 characters); the message ID. */
export async function publishAlert(deps: { readonly sns: SNSClient; readonly retry?: RunReaderDeps['retry'] }, topicArn: string, alert: Alert): Promise<string | undefined> {
  const published = await withThrottlingRetry(
    () => deps.sns.send(new PublishCommand({ TopicArn: topicArn, Subject: alert.subject.replace(/[\r\n]/g, ' ').slice(0, 100), Message: alert.message })),
    runBackoff(deps),
  );
  return published.MessageId;
}
