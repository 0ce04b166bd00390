import { z } from 'zod';
import { baseConfigShape, crossFieldIssues, type BaseConfig } from './schema';
import { verificationConfigShape, verificationIssues } from './sections/verification';
import { rdsConfigIssues, rdsConfigShape } from './sections/rds';
import { mediaBucketsIssues, mediaBucketsShape } from './sections/media-buckets';
import { targetsIssues, targetsShape } from './sections/targets';
import { restoreConfigShape, restoreIssues } from './sections/restore';
import { awsBackupIssues, awsBackupShape } from './sections/aws-backup';
import { objectivesIssues } from './sections/objectives';

/**
 * The whole config: the base (regions, tiers, storage) plus one section per capability.
 * A capability adds its section's shape here and its cross-field checks to `CHECKS`.
 */
export const configSchema = z.strictObject({
  ...baseConfigShape,
  ...verificationConfigShape,
  ...rdsConfigShape,
  ...mediaBucketsShape,
  ...targetsShape,
  ...restoreConfigShape,
  ...awsBackupShape,
});

export type BackupKitConfig = z.infer<typeof configSchema>;
/** What a config file may contain: every field with a default is optional. */
export type BackupKitConfigInput = z.input<typeof configSchema>;

export interface ConfigIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

type CrossFieldCheck = (config: BackupKitConfig) => { errors: ConfigIssue[]; warnings: ConfigIssue[] };

// One entry per line: sections are added independently.
const CHECKS: readonly CrossFieldCheck[] = [
  (config) => crossFieldIssues(config as BaseConfig),
  verificationIssues,
  rdsConfigIssues,
  mediaBucketsIssues,
  targetsIssues,
  restoreIssues,
  awsBackupIssues,
  objectivesIssues,
];

/** Invalid config: the message lists every field at fault and why. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(`Invalid backup-kit config:\n${issues.map((issue) => `  - ${formatIssue(issue)}`).join('\n')}`);
  }
}

export function formatIssue(issue: ConfigIssue): string {
  const path = issue.path.length > 0 ? issue.path.join('.') : '(root)';
  return `${path}: ${issue.message}`;
}

export interface LoadedConfig {
  readonly config: BackupKitConfig;
  /** Legal but costly or surprising settings, printed at synth. */
  readonly warnings: readonly string[];
}

/** Parses and checks a config; throws `ConfigError` naming each bad field. */
export function loadConfig(input: unknown): LoadedConfig {
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        path: issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part)),
        message: issue.message,
      })),
    );
  }
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  for (const check of CHECKS) {
    const result = check(parsed.data);
    errors.push(...result.errors);
    warnings.push(...result.warnings);
  }
  if (errors.length > 0) throw new ConfigError(errors);
  return { config: parsed.data, warnings: warnings.map(formatIssue) };
}
