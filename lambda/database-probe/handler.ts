import { DATABASE_PROBE_ENV, parseDatabaseProbeSettings, parseProbeRequest } from '../../contracts/database-probe';
import { requireJsonEnv } from '../shared/env';
import { eventHandler } from '../shared/handlers';
import { createLogger } from '../shared/powertools';
import { credentialsFromEnvironment, databaseAuthToken } from './auth-token';
import { openSession } from './connections';
import { probeCopy } from './core';

const logger = createLogger();
const settings = parseDatabaseProbeSettings(requireJsonEnv(DATABASE_PROBE_ENV.settings));

/** Invoked by the restore test validation with a copy to probe; answers what each statement returned. */
export const handler = eventHandler({ logger, job: 'database probe', unchanged: 'nothing was read' }, async (event) => {
  const request = parseProbeRequest(event);
  const result = await probeCopy(request, settings, {
    token: (hostname, port, username) => databaseAuthToken({ hostname, port, username, region: settings.region, credentials: credentialsFromEnvironment() }),
    open: openSession,
  });
  // The statements are the config's; what they returned is the copy's: only whether each held is logged.
  logger.info('database probed', { resource: result.resource, host: request.host, connected: result.connected, error: result.error, held: result.checks.map((check) => check.held) });
  return result;
});
