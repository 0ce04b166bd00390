import { Construct } from 'constructs';
import { BACKUP_STEP_NAME, DOCUMENT_PARAMETERS, EXECUTION_TIMEOUT_PARAMETER } from '../../contracts/backup-command';
import { InstanceCommandDocument } from './instance-command-document';

/** The scripts the backup document embeds: backup.sh and what it sources. */
export const BACKUP_SCRIPT_FILES = ['common.sh', 'backup-dump.sh', 'backup-upload.sh', 'backup.sh'] as const;

export interface BackupCommandDocumentProps {
  /**
   * Name of the document. It is part of the contract: the trigger sends it, the result rule
   * filters on it, IAM names it, and engineers find it in the Run Command console.
   */
  readonly documentName: string;
  /**
   * Directory holding `BACKUP_SCRIPT_FILES`.
   * @default - `scripts/instance/` of this repository
   */
  readonly scriptsDir?: string;
  /**
   * Seconds a backup may run when the sender passes no `executionTimeout`.
   * @default 7200 (two hours)
   */
  readonly defaultExecutionTimeoutSeconds?: number;
}

/**
 * The SSM Command document that backs up one target on an instance: `backup.sh` with the BK_*
 * settings from its parameters (see InstanceCommandDocument for how the scripts travel).
 */
export class BackupCommandDocument extends InstanceCommandDocument {
  constructor(scope: Construct, id: string, props: BackupCommandDocumentProps) {
    super(scope, id, {
      documentName: props.documentName,
      description:
        'backup-kit: consistent backup of one target (PostgreSQL, MySQL, SQLite or a directory) streamed to S3 with SSE-KMS and Object Lock, then its manifest. Sent by the backup trigger.',
      stepName: BACKUP_STEP_NAME,
      parameters: DOCUMENT_PARAMETERS,
      executionTimeoutDescription: EXECUTION_TIMEOUT_PARAMETER.description,
      scriptFiles: BACKUP_SCRIPT_FILES,
      entryScript: 'backup.sh',
      ...(props.scriptsDir ? { scriptsDir: props.scriptsDir } : {}),
      ...(props.defaultExecutionTimeoutSeconds !== undefined ? { defaultExecutionTimeoutSeconds: props.defaultExecutionTimeoutSeconds } : {}),
    });
  }
}
