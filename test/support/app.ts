import { App } from 'aws-cdk-lib';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * An App with the feature flags of cdk.json (as `cdk synth` has them) and esbuild bundling
 * skipped, for template tests.
 */
export function templateTestApp(): App {
  const cdkJson = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  return new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
}
