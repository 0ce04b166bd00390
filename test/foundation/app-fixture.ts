import { App } from 'aws-cdk-lib';
import { exampleConfig } from '../../config/example';
import { loadConfig, type BackupKitConfigInput } from '../../lib/config/config';
import { buildApp, type BackupKitStacks } from '../../lib/app';

/** The app built from the example config plus `changes`, without bundling Lambdas (fast template tests). */
export function buildTestApp(changes: Partial<BackupKitConfigInput> = {}, options: { nag?: boolean } = {}): { app: App; stacks: BackupKitStacks } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const { config, warnings } = loadConfig({ ...exampleConfig, ...changes });
  const stacks = buildApp(app, config, { warnings, nag: options.nag ?? false });
  return { app, stacks };
}
