#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { resolve } from 'node:path';
import { exampleConfig } from '../config/example';
import { ConfigError, loadConfig } from '../lib/config/config';
import { readConfigSource } from '../lib/config/files';
import { buildApp } from '../lib/app';
import { estimateCost, formatCostEstimate } from '../lib/cost/estimate';
import { metricUsage } from '../lib/cost/metric-usage';

// The only place that reads context or environment: `-c config=<name|path>` selects the config.
const app = new App();
const selection: unknown = app.node.tryGetContext('config');
const raw = typeof selection === 'string' && selection.length > 0 ? readConfigSource(selection, resolve(__dirname, '..')) : exampleConfig;

try {
  const { config, warnings } = loadConfig(raw);
  buildApp(app, config, { warnings });
  const assembly = app.synth();
  console.error(formatCostEstimate(estimateCost(assembly.stacks.map((stack) => stack.template as object), config.tiers, config.replication, metricUsage(config))));
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
