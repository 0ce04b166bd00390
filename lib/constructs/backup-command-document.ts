import { Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { resolve } from 'node:path';
import { BACKUP_STEP_NAME, DOCUMENT_PARAMETERS, EXECUTION_TIMEOUT_PARAMETER, type DocumentParameterSpec } from '../../lambda/shared/backup-command';
import { checkDocumentName, checkedContentSha256, packScript, unpackScriptLines, type PackedScript } from './packed-scripts';

/** Where the instance scripts live in this repository. */
export const DEFAULT_INSTANCE_SCRIPTS: InstanceScriptPaths = {
  common: resolve(__dirname, '../../scripts/instance/common.sh'),
  backup: resolve(__dirname, '../../scripts/instance/backup.sh'),
};

export interface InstanceScriptPaths {
  /** Shared shell functions, sourced by the backup script from its own directory. */
  readonly common: string;
  /** The backup script the document runs with `bash`. */
  readonly backup: string;
}

export interface BackupCommandDocumentProps {
  /**
   * Name of the document. It is part of the contract: the trigger sends it, the result rule
   * filters on it, IAM names it, and engineers find it in the Run Command console.
   */
  readonly documentName: string;
  /**
   * The instance scripts to embed.
   * @default - `scripts/instance/common.sh` and `scripts/instance/backup.sh` of this repository
   */
  readonly scripts?: InstanceScriptPaths;
  /**
   * Seconds a backup may run when the sender passes no `executionTimeout`.
   * @default 7200 (two hours)
   */
  readonly defaultExecutionTimeoutSeconds?: number;
}

/**
 * The SSM Command document that backs up one target on an instance: it unpacks the embedded
 * scripts (packed and checked as packed-scripts.ts describes) into a private temporary
 * directory, exports the BK_* settings from its parameters and runs `bash backup.sh`. Every parameter has an `allowedPattern` that admits no quote,
 * backslash, newline or brace, and is interpolated only inside single quotes, so a parameter
 * value cannot change the command text. Updates create a new version of the same document
 * (`UpdateMethod: NewVersion`), which becomes the default; `contentSha256` lets the trigger
 * find and pin exactly the version this deployment created.
 */
export class BackupCommandDocument extends Construct {
  readonly document: ssm.CfnDocument;
  readonly documentName: string;
  readonly documentArn: string;
  /** The document content as deployed. */
  readonly content: Record<string, unknown>;
  /** Canonical SHA-256 of `content` (see `documentContentSha256`). */
  readonly contentSha256: string;

  constructor(scope: Construct, id: string, props: BackupCommandDocumentProps) {
    super(scope, id);
    checkDocumentName('BackupCommandDocument', props.documentName);
    const defaultTimeout = props.defaultExecutionTimeoutSeconds ?? 7200;
    if (!new RegExp(EXECUTION_TIMEOUT_PARAMETER.pattern).test(String(defaultTimeout))) {
      throw new Error(
        `BackupCommandDocument defaultExecutionTimeoutSeconds: must be 1-${EXECUTION_TIMEOUT_PARAMETER.maxSeconds} (got ${defaultTimeout})`,
      );
    }
    const scripts = props.scripts ?? DEFAULT_INSTANCE_SCRIPTS;
    const packed = (['common', 'backup'] as const).map((label) => packScript('BackupCommandDocument', label, scripts[label]));

    this.content = {
      schemaVersion: '2.2',
      description:
        'backup-kit: consistent backup of one target (PostgreSQL, MySQL, SQLite or a directory) streamed to S3 with SSE-KMS and Object Lock, then its manifest. Sent by the backup trigger.',
      parameters: documentParameters(defaultTimeout),
      mainSteps: [
        {
          action: 'aws:runShellScript',
          name: BACKUP_STEP_NAME,
          precondition: { StringEquals: ['platformType', 'Linux'] },
          inputs: {
            timeoutSeconds: `{{ ${EXECUTION_TIMEOUT_PARAMETER.name} }}`,
            runCommand: runCommandLines(packed),
          },
        },
      ],
    };
    this.contentSha256 = checkedContentSha256('BackupCommandDocument', this.content);

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
  for (const [name, spec] of Object.entries(DOCUMENT_PARAMETERS) as [string, DocumentParameterSpec][]) {
    parameters[name] = {
      type: 'String',
      description: spec.description,
      allowedPattern: spec.pattern,
      ...(spec.optional ? { default: '' } : {}),
    };
  }
  parameters[EXECUTION_TIMEOUT_PARAMETER.name] = {
    type: 'String',
    description: EXECUTION_TIMEOUT_PARAMETER.description,
    allowedPattern: EXECUTION_TIMEOUT_PARAMETER.pattern,
    default: String(defaultTimeout),
  };
  return parameters;
}

/**
 * The step's shell text. It runs under `sh` or `bash` (the agent honours the first-line
 * shebang), so it keeps to POSIX; the scripts themselves run under bash.
 */
function runCommandLines(scripts: readonly PackedScript[]): string[] {
  const specs = Object.entries(DOCUMENT_PARAMETERS) as [string, DocumentParameterSpec][];
  return [
    '#!/bin/bash',
    '# backup-kit: unpack the instance scripts into a private directory, check them, export the settings, run the backup.',
    'set -eu',
    'umask 077',
    'work_dir="$(mktemp -d "${TMPDIR:-/tmp}/backup-kit.XXXXXXXXXX")"',
    `trap 'rm -rf -- "$work_dir"' EXIT`,
    ...unpackScriptLines(scripts),
    '# Values passed the allowedPattern of their parameter: no quote, backslash, newline or brace.',
    ...specs.map(([name, spec]) => `export ${spec.env}='{{ ${name} }}'`),
    '# Optional settings left empty are unset, so the script sees them as not given.',
    ...specs.filter(([, spec]) => spec.optional).map(([, spec]) => `[ -n "$${spec.env}" ] || unset ${spec.env}`),
    'if [ -n "${AWS_SSM_INSTANCE_ID:-}" ]; then export BK_INSTANCE_ID="$AWS_SSM_INSTANCE_ID"; fi',
    'cd "$work_dir"',
    'bash "$work_dir/backup.sh"',
  ];
}
