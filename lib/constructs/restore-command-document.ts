import { Construct } from 'constructs';
import { RESTORE_DOCUMENT_PARAMETERS, RESTORE_STEP_NAME } from '../../contracts/restore-command';
import { BACKUP_SCRIPT_FILES } from './backup-command-document';
import { InstanceCommandDocument } from './instance-command-document';

/** The scripts the restore document embeds: restore.sh, what it sources, and the backup scripts for the safety backup. */
export const RESTORE_SCRIPT_FILES = [...BACKUP_SCRIPT_FILES, 'restore-database.sh', 'restore-path.sh', 'restore-checks.sh', 'restore-preflight.sh', 'restore.sh'] as const;

export interface RestoreCommandDocumentProps {
  /** Name of the document: the restore and drill functions send it, IAM and the result rule name it. */
  readonly documentName: string;
  /**
   * Directory holding `RESTORE_SCRIPT_FILES`.
   * @default - `scripts/instance/` of this repository
   */
  readonly scriptsDir?: string;
  /**
   * Seconds a restore may run when the sender passes no `executionTimeout`.
   * @default 7200 (two hours)
   */
  readonly defaultExecutionTimeoutSeconds?: number;
}

/**
 * The SSM Command document that restores one target on an instance: `restore.sh` with its
 * settings from the parameters (see InstanceCommandDocument for how the scripts travel).
 */
export class RestoreCommandDocument extends InstanceCommandDocument {
  constructor(scope: Construct, id: string, props: RestoreCommandDocumentProps) {
    super(scope, id, {
      documentName: props.documentName,
      description:
        'backup-kit: restores one backup of a target (PostgreSQL, MySQL, SQLite or a directory) after checking it against its manifest: scratch into a new database or side path, or replace after a safety backup with an atomic swap. Sent by the restore and drill functions.',
      stepName: RESTORE_STEP_NAME,
      parameters: RESTORE_DOCUMENT_PARAMETERS,
      executionTimeoutDescription: 'Seconds the restore may run before the agent stops it (at most 172800).',
      scriptFiles: RESTORE_SCRIPT_FILES,
      entryScript: 'restore.sh',
      ...(props.scriptsDir ? { scriptsDir: props.scriptsDir } : {}),
      ...(props.defaultExecutionTimeoutSeconds !== undefined ? { defaultExecutionTimeoutSeconds: props.defaultExecutionTimeoutSeconds } : {}),
    });
  }
}
