import type { SSMClient } from '@aws-sdk/client-ssm';
import { spawnSync } from 'node:child_process';
import { App, Stack } from 'aws-cdk-lib';
import { RestoreCommandDocument } from '../../lib/constructs/restore-command-document';
import { INSTANCE_SCRIPTS_DIR } from './backup-script';
import { parseScriptRun, type ScriptRun } from './restore-fixtures';

/**
 * Run Command on this machine, for the restore document: what the functions ask SSM (is the
 * instance managed, which document version holds the deployed content, send, what became of
 * the command) answered here, and each sent command run as the SSM agent runs it: the
 * document's command text, built by the real construct with the scripts embedded, with the
 * parameters filled in, through bash. moto runs no commands; this stands in for the agent.
 */

interface LocalCommand {
  readonly commandId: string;
  readonly instanceId: string;
  readonly comment: string;
  readonly parameters: Record<string, string[]>;
  readonly requestedAt: Date;
  run?: ScriptRun & { readonly startedAt: Date; readonly endedAt: Date };
}

/** The Run Command status event for a finished command, as EventBridge delivers it to the result function. */
export interface StatusEvent {
  readonly 'detail-type': 'EC2 Command Invocation Status-change Notification';
  readonly source: 'aws.ssm';
  readonly detail: { readonly 'command-id': string; readonly 'document-name': string; readonly 'instance-id': string; readonly status: string };
}

export class LocalRunCommand {
  readonly documentName: string;
  readonly document: Record<string, unknown>;
  readonly documentSha256: string;
  private readonly commands: LocalCommand[] = [];
  private queue: LocalCommand[] = [];

  /**
   * @param instances the managed instances SSM knows, by ID
   * @param env the environment the agent runs commands with (the AWS endpoint of the emulator)
   */
  constructor(
    private readonly instances: readonly { readonly instanceId: string; readonly platform: string }[],
    private readonly env: NodeJS.ProcessEnv,
    documentName = 'BackupKit-local-InstanceRestore',
  ) {
    const document = new RestoreCommandDocument(new Stack(new App(), 'LocalRunCommand'), 'Document', { documentName, scriptsDir: INSTANCE_SCRIPTS_DIR });
    this.documentName = documentName;
    this.document = document.content;
    this.documentSha256 = document.contentSha256;
  }

  /** Every command sent, in order. */
  get sent(): readonly LocalCommand[] {
    return this.commands;
  }

  /** An SSM client for the functions: the calls they make, answered from here. */
  client(): SSMClient {
    const send = async (command: { constructor: { name: string }; input: Record<string, unknown> }) => this.answer(command.constructor.name, command.input);
    return { send, config: {} } as unknown as SSMClient;
  }

  private answer(operation: string, input: Record<string, unknown>): unknown {
    switch (operation) {
      case 'DescribeInstanceInformationCommand': {
        const filters = (input.Filters ?? []) as { Key: string; Values: string[] }[];
        const ids = filters.find((filter) => filter.Key === 'InstanceIds')?.Values;
        const tagged = filters.some((filter) => filter.Key.startsWith('tag:'));
        return {
          InstanceInformationList: tagged
            ? []
            : this.instances
                .filter((instance) => ids === undefined || ids.includes(instance.instanceId))
                .map((instance) => ({ InstanceId: instance.instanceId, PingStatus: 'Online', PlatformType: 'Linux', PlatformName: instance.platform })),
        };
      }
      case 'DescribeDocumentCommand':
        return { Document: { Name: this.documentName, DefaultVersion: '1' } };
      case 'GetDocumentCommand':
        return { Name: this.documentName, DocumentVersion: '1', Content: JSON.stringify(this.document) };
      case 'SendCommandCommand': {
        if (input.DocumentName !== this.documentName) throw Object.assign(new Error(`no document ${String(input.DocumentName)}`), { name: 'InvalidDocument' });
        const [instanceId, ...more] = (input.InstanceIds ?? []) as string[];
        if (instanceId === undefined || more.length > 0 || !this.instances.some((instance) => instance.instanceId === instanceId)) {
          throw Object.assign(new Error(`not one managed instance: ${String(input.InstanceIds)}`), { name: 'InvalidInstanceId' });
        }
        const command: LocalCommand = {
          commandId: `local-${this.commands.length + 1}`,
          instanceId,
          comment: String(input.Comment ?? ''),
          parameters: (input.Parameters ?? {}) as Record<string, string[]>,
          requestedAt: new Date(),
        };
        this.commands.push(command);
        this.queue.push(command);
        return { Command: { CommandId: command.commandId, DocumentName: this.documentName, Comment: command.comment } };
      }
      case 'ListCommandsCommand': {
        const command = this.find(String(input.CommandId));
        return {
          Commands: [{ CommandId: command.commandId, DocumentName: this.documentName, DocumentVersion: '1', Comment: command.comment, Parameters: command.parameters, RequestedDateTime: command.requestedAt }],
        };
      }
      case 'GetCommandInvocationCommand': {
        const command = this.find(String(input.CommandId));
        // Asked before its turn (the restore function waits for a preflight): the agent runs it now.
        if (!command.run) this.execute(command);
        const run = command.run as NonNullable<LocalCommand['run']>;
        const status = run.status === 0 ? 'Success' : 'Failed';
        return {
          CommandId: command.commandId,
          InstanceId: command.instanceId,
          Status: status,
          StatusDetails: status,
          ResponseCode: run.status ?? -1,
          // Run Command keeps the first 24,000 characters of output and 8,000 of errors.
          StandardOutputContent: run.stdout.slice(0, 24000),
          StandardErrorContent: run.stderr.slice(0, 8000),
          ExecutionStartDateTime: run.startedAt.toISOString(),
          ExecutionEndDateTime: run.endedAt.toISOString(),
        };
      }
      default:
        throw new Error(`LocalRunCommand does not answer ${operation}`);
    }
  }

  private find(commandId: string): LocalCommand {
    const command = this.commands.find((candidate) => candidate.commandId === commandId);
    if (!command) throw Object.assign(new Error(`no command ${commandId}`), { name: 'InvalidCommandId' });
    return command;
  }

  /** Runs the oldest command not run yet, as the agent would; its status event, or undefined when none waits. */
  runNext(): StatusEvent | undefined {
    const command = this.queue.shift();
    if (!command) return undefined;
    this.execute(command);
    return {
      'detail-type': 'EC2 Command Invocation Status-change Notification',
      source: 'aws.ssm',
      detail: { 'command-id': command.commandId, 'document-name': this.documentName, 'instance-id': command.instanceId, status: command.run?.status === 0 ? 'Success' : 'Failed' },
    };
  }

  private execute(command: LocalCommand): void {
    this.queue = this.queue.filter((queued) => queued !== command);
    const steps = (this.document.mainSteps as { inputs: { runCommand: string[] } }[] | undefined) ?? [];
    const declared = (this.document.parameters ?? {}) as Record<string, { default?: unknown }>;
    // A parameter not sent takes the document's default, as SSM does.
    const text = (steps[0]?.inputs.runCommand ?? []).join('\n').replace(/\{\{ (\w+) \}\}/g, (_, name: string) => command.parameters[name]?.[0] ?? String(declared[name]?.default ?? ''));
    const startedAt = new Date();
    const run = spawnSync('bash', ['-c', text], { env: this.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    command.run = { ...parseScriptRun(run.status, run.signal, run.stdout, run.stderr), startedAt, endedAt: new Date() };
  }
}
