import { Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { resolve } from 'node:path';
import { EXECUTION_TIMEOUT_PARAMETER } from '../../lambda/shared/backup-command';
import { RESTORE_DOCUMENT_PARAMETERS, RESTORE_STEP_NAME } from '../../lambda/shared/restore-command';
import { checkDocumentName, checkedContentSha256, packScript, unpackScriptLines, type PackedScript } from './packed-scripts';

/** The scripts the restore document embeds. */
export interface RestoreScriptPaths {
  /** Shared shell functions. */
  readonly common: string;
  /** The backup script, for the safety backup a replace takes first. */
  readonly backup: string;
  /** The restore script the document runs. */
  readonly restore: string;
}

export const DEFAULT_RESTORE_SCRIPTS: RestoreScriptPaths = {
  common: resolve(__dirname, '../../scripts/instance/common.sh'),
  backup: resolve(__dirname, '../../scripts/instance/backup.sh'),
  restore: resolve(__dirname, '../../scripts/instance/restore.sh'),
};

export interface RestoreCommandDocumentProps {
  /** Name of the document: the restore and drill functions send it, IAM and the result rule name it. */
  readonly documentName: string;
  /**
   * The scripts to embed.
   * @default - `scripts/instance/{common,backup,restore}.sh` of this repository
   */
  readonly scripts?: RestoreScriptPaths;
  /**
   * Seconds a restore may run when the sender passes no `executionTimeout`.
   * @default 7200 (two hours)
   */
  readonly defaultExecutionTimeoutSeconds?: number;
}

/**
 * The SSM Command document that restores one target on an instance. The three scripts are
 * embedded packed (see packed-scripts.ts): each one's SHA-256 is printed in the document and
 * checked on the instance after unpacking.
 * Every parameter has an `allowedPattern` that admits no quote, backslash, newline or brace and
 * is interpolated only inside single quotes, so a value cannot change the command text.
 */
export class RestoreCommandDocument extends Construct {
  readonly document: ssm.CfnDocument;
  readonly documentName: string;
  readonly documentArn: string;
  readonly content: Record<string, unknown>;
  /** Canonical SHA-256 of `content`, for pinning the deployed version. */
  readonly contentSha256: string;
  /** SHA-256 of each embedded script, by file name. */
  readonly scriptSha256: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: RestoreCommandDocumentProps) {
    super(scope, id);
    checkDocumentName('RestoreCommandDocument', props.documentName);
    const defaultTimeout = props.defaultExecutionTimeoutSeconds ?? 7200;
    if (!new RegExp(EXECUTION_TIMEOUT_PARAMETER.pattern).test(String(defaultTimeout))) {
      throw new Error(`RestoreCommandDocument defaultExecutionTimeoutSeconds: must be 1-${EXECUTION_TIMEOUT_PARAMETER.maxSeconds} (got ${defaultTimeout})`);
    }
    const scripts = props.scripts ?? DEFAULT_RESTORE_SCRIPTS;
    const packed = (['common', 'backup', 'restore'] as const).map((label) => packScript('RestoreCommandDocument', label, scripts[label]));
    this.scriptSha256 = Object.fromEntries(packed.map((script) => [script.file, script.sha256]));

    this.content = {
      schemaVersion: '2.2',
      description:
        'backup-kit: restores one backup of a target (PostgreSQL, MySQL, SQLite or a directory) after checking it against its manifest: scratch into a new database or side path, or replace after a safety backup with an atomic swap. Sent by the restore and drill functions.',
      parameters: documentParameters(defaultTimeout),
      mainSteps: [
        {
          action: 'aws:runShellScript',
          name: RESTORE_STEP_NAME,
          precondition: { StringEquals: ['platformType', 'Linux'] },
          inputs: {
            timeoutSeconds: `{{ ${EXECUTION_TIMEOUT_PARAMETER.name} }}`,
            runCommand: runCommandLines(packed),
          },
        },
      ],
    };
    this.contentSha256 = checkedContentSha256('RestoreCommandDocument', this.content);
    this.documentName = props.documentName;
    this.document = new ssm.CfnDocument(this, 'Document', {
      name: props.documentName,
      documentType: 'Command',
      documentFormat: 'JSON',
      targetType: '/AWS::EC2::Instance',
      updateMethod: 'NewVersion',
      content: this.content,
    });
    this.documentArn = Stack.of(this).formatArn({ service: 'ssm', resource: 'document', resourceName: props.documentName });
  }
}

function documentParameters(defaultTimeout: number): Record<string, Record<string, string>> {
  const parameters: Record<string, Record<string, string>> = {};
  for (const [name, spec] of Object.entries(RESTORE_DOCUMENT_PARAMETERS)) {
    parameters[name] = { type: 'String', description: spec.description, allowedPattern: spec.pattern, ...(spec.optional ? { default: '' } : {}) };
  }
  parameters[EXECUTION_TIMEOUT_PARAMETER.name] = {
    type: 'String',
    description: 'Seconds the restore may run before the agent stops it (at most 172800).',
    allowedPattern: EXECUTION_TIMEOUT_PARAMETER.pattern,
    default: String(defaultTimeout),
  };
  return parameters;
}

function runCommandLines(scripts: readonly PackedScript[]): string[] {
  const specs = Object.entries(RESTORE_DOCUMENT_PARAMETERS);
  return [
    '#!/bin/bash',
    '# backup-kit: unpack the instance scripts into a private directory, check them, export the settings, run the restore.',
    'set -eu',
    'umask 077',
    'work_dir="$(mktemp -d "${TMPDIR:-/tmp}/backup-kit-restore.XXXXXXXXXX")"',
    `trap 'rm -rf -- "$work_dir"' EXIT`,
    ...unpackScriptLines(scripts),
    '# Values passed the allowedPattern of their parameter: no quote, backslash, newline or brace.',
    ...specs.map(([name, spec]) => `export ${spec.env}='{{ ${name} }}'`),
    '# Optional settings left empty are unset, so the script sees them as not given.',
    ...specs.filter(([, spec]) => spec.optional).map(([, spec]) => `[ -n "$${spec.env}" ] || unset ${spec.env}`),
    'if [ -n "${AWS_SSM_INSTANCE_ID:-}" ]; then export BK_INSTANCE_ID="$AWS_SSM_INSTANCE_ID"; fi',
    'cd "$work_dir"',
    'bash "$work_dir/restore.sh"',
  ];
}
