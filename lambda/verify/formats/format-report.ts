/** What a format inspector found in the decompressed stream. */
export interface FormatReport {
  /** The format the inspector checked (`pg_custom`, `mysql_sql`, `sqlite`, `tar`). */
  readonly format: string;
  /** Problems that make the backup unusable or untrustworthy; empty when the format checks passed. */
  readonly problems: readonly string[];
  /** Checks that could not run, each with why (never counted as passed). */
  readonly skipped: readonly string[];
  /** Figures read from the stream (entries, tables, files, versions). */
  readonly figures: Readonly<Record<string, string | number | boolean>>;
}

/**
 * A format check fed the decompressed stream chunk by chunk, in order. It keeps only bounded
 * state (never the whole stream, except the SQLite check below its configured limit).
 */
export interface FormatInspector {
  write(chunk: Buffer): void;
  /** Called once the stream decompressed to its end. */
  finish(): Promise<FormatReport>;
}

/** The dump does not follow its format; the message says where and what. */
export class FormatError extends Error {
  override readonly name = 'FormatError';
}
