import { App } from 'aws-cdk-lib';
import { exampleConfig } from '../../config/example';
import { loadConfig, type BackupKitConfigInput } from '../../lib/config/config';
import { buildApp, type BackupKitStacks } from '../../lib/app';
import { resolve } from 'node:path';

/** Small stand-ins for scripts/instance/*.sh: template tests do not depend on the real scripts. */
export const FIXTURE_INSTANCE_SCRIPTS_DIR = resolve(__dirname, '../backup-jobs/fixtures');

/** The app built from the example config plus `changes`, without bundling Lambdas (fast template tests). */
export function buildTestApp(
  changes: Partial<BackupKitConfigInput> = {},
  options: { nag?: boolean; instanceScriptsDir?: string } = {},
): { app: App; stacks: BackupKitStacks } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const { config, warnings } = loadConfig({ ...exampleConfig, ...changes });
  const stacks = buildApp(app, config, { warnings, nag: options.nag ?? false, instanceScriptsDir: options.instanceScriptsDir ?? FIXTURE_INSTANCE_SCRIPTS_DIR });
  return { app, stacks };
}
