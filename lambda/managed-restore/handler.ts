import { BackupClient } from '@aws-sdk/client-backup';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { MANAGED_RESTORE_ENV, parseManagedRestoreEvent, parseManagedRestoreSettings } from '../../contracts/managed-restore';
import { requireJsonEnv } from '../shared/env';
import { consoleRestoreHandler } from '../shared/handlers';
import { createLogger } from '../shared/powertools';
import { restoreFromRecoveryPoint, type ManagedRestoreResult } from './core';

const logger = createLogger();
const settings = parseManagedRestoreSettings(requireJsonEnv(MANAGED_RESTORE_ENV.settings));

// Short timeouts: with one region down, a DR restore must not hang on the other region's endpoint.
const clientOptions = { requestHandler: { connectionTimeout: 3_000, requestTimeout: 20_000 } };
const regional = <T>(make: (region: string) => T) => ({ primary: make(settings.primaryRegion), dr: make(settings.drRegion) });
const deps = {
  backup: regional((region) => new BackupClient({ region, ...clientOptions })),
  rds: regional((region) => new RDSClient({ region, ...clientOptions })),
  s3: regional((region) => new S3Client({ region, ...clientOptions })),
};

/** The restore failed for a reason the engineer cannot fix by changing the event. */
export class ManagedRestoreFailedError extends Error {
  override readonly name = 'ManagedRestoreFailedError';
}

/**
 * Restore of data AWS Backup protects, from a recovery point into a new resource, invoked from
 * the Lambda console or CLI. Answers `{ ok: true, ...result }`, or for a refused request
 * `{ ok: false, error, field, reason, message }` (nothing was changed).
 */
export const handler = consoleRestoreHandler(
  {
    logger,
    job: 'restore from a recovery point',
    permissionHint:
      "The function may read the kit's vaults, start restores of their recovery points with the kit's restore role, and look up '<source>-restored-*' names: if the resource was added to the config recently, deploy the jobs stack; otherwise look for an SCP or permissions boundary.",
    failure: ManagedRestoreFailedError,
  },
  {
    parse: parseManagedRestoreEvent,
    logged: (request) => ({ ...request, recoveryPoint: request.recoveryPoint.kind === 'latest-before' ? { kind: 'latest-before', before: request.recoveryPoint.before.toISOString() } : request.recoveryPoint }),
    run: (request, invocation): Promise<ManagedRestoreResult> => restoreFromRecoveryPoint(request, settings, deps, invocation),
    answered: (result) => ({
      outcome: result.outcome,
      source: result.source,
      target: result.target,
      recoveryPointArn: result.recoveryPoint.arn,
      restoreJobId: result.restoreJobId,
      region: result.region,
      requestedBy: result.requestedBy,
    }),
  },
);
