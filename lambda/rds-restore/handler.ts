import { RDSClient } from '@aws-sdk/client-rds';
import { requireJsonEnv } from '../shared/env';
import { consoleRestoreHandler } from '../shared/handlers';
import { addCatalogMetric, createLogger, createMetrics } from '../shared/powertools';
import { METRICS } from '../../contracts/metric-catalog';
import { RESTORE_SETTINGS_ENV, parseRestoreSettings } from '../../contracts/rds';
import { restoreToPointInTime, type RestoreResult } from './core';
import { parseRestoreEvent } from '../../contracts/rds-restore-event';

const logger = createLogger();
const metrics = createMetrics();
const settings = parseRestoreSettings(requireJsonEnv(RESTORE_SETTINGS_ENV));

// Short timeouts: with one region down, a DR restore must not hang on the other region's endpoint.
const clientOptions = { requestHandler: { connectionTimeout: 3_000, requestTimeout: 20_000 } };
const rds = {
  primary: new RDSClient({ region: settings.primaryRegion, ...clientOptions }),
  dr: new RDSClient({ region: settings.drRegion, ...clientOptions }),
};

/** The restore failed for a reason the engineer cannot fix by changing the event. */
export class RestoreFailedError extends Error {
  override readonly name = 'RestoreFailedError';
}

/**
 * Point-in-time restore of an allowlisted RDS instance, invoked from the Lambda console or CLI.
 * Answers `{ ok: true, ...result }`, or for a refused request `{ ok: false, error, field, reason,
 * message }` (nothing was changed). Anything unexpected fails the invocation.
 */
export const handler = consoleRestoreHandler(
  {
    logger,
    job: 'restore',
    permissionHint:
      "The restore role may act only on the allowlisted sources, '<source>-pitr-*' instances and their automated backups: if the source was added to the config recently, deploy the jobs stack; otherwise look for an SCP or permissions boundary.",
    failure: RestoreFailedError,
  },
  {
    parse: parseRestoreEvent,
    logged: (request) => ({ ...request, restoreTime: request.restoreTime === 'latest' ? 'latest' : request.restoreTime.toISOString() }),
    run: async (request, invocation): Promise<RestoreResult> => {
      const result = await restoreToPointInTime(request, settings, { rds }, invocation);
      if (result.outcome === 'started') {
        metrics.addDimension('Source', result.source);
        addCatalogMetric(metrics, METRICS.rdsRestoreStarted, 1);
        metrics.publishStoredMetrics();
      }
      return result;
    },
    answered: (result) => ({ outcome: result.outcome, target: result.target, status: result.status, region: result.region }),
  },
);
