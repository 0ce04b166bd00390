import { RequestRejectedError, errorMessage } from '../../contracts/errors';
import { probeValueHolds, testCopyHostProblem, type DatabaseProbeSettings, type ProbeProtocol, type ProbeRequest, type ProbeResult } from '../../contracts/database-probe';
import type { ProbeSession, SessionOptions } from './connections';

/**
 * Runs a configured database's probes on a restore test's copy: signs in with an IAM token as
 * the configured user, runs each configured statement in one read-only transaction, and says for
 * each whether it held. The request names only the database and where its copy is; the SQL, the
 * database and the user come from the settings, and the host must be one of AWS Backup's test copies.
 */

export interface ProbeDependencies {
  /** The password: an IAM authentication token for the user at host:port. */
  readonly token: (host: string, port: number, user: string) => string;
  readonly open: (protocol: ProbeProtocol, options: SessionOptions) => Promise<ProbeSession>;
}

/** What a value looks like in a check's detail: short, one line. */
function shown(value: unknown): string {
  if (value === undefined) return 'no row';
  if (value === null) return 'NULL';
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return `0x${value.subarray(0, 16).toString('hex')}`;
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text.replace(/\s+/g, ' ').slice(0, 80);
}

const short = (text: string) => text.replace(/\s+/g, ' ').slice(0, 300);

export async function probeCopy(request: ProbeRequest, settings: DatabaseProbeSettings, deps: ProbeDependencies): Promise<ProbeResult> {
  const database = settings.databases.find((candidate) => candidate.resource === request.resource);
  if (!database) throw new RequestRejectedError(`resource: '${request.resource}' has no probes in the config (${settings.databases.map((candidate) => candidate.resource).join(', ')})`, { field: 'resource' });
  const hostProblem = testCopyHostProblem(request.host, settings.region);
  if (hostProblem) throw new RequestRejectedError(`host: '${request.host.slice(0, 120)}' ${hostProblem}`, { field: 'host' });

  let session: ProbeSession;
  try {
    session = await deps.open(request.protocol, {
      host: request.host,
      port: request.port,
      user: database.user,
      database: database.database,
      password: deps.token(request.host, request.port, database.user),
    });
  } catch (error) {
    return { resource: request.resource, connected: false, error: `could not sign in to ${request.host}:${request.port} as ${database.user} (database ${database.database}): ${short(errorMessage(error))}`, checks: [] };
  }
  const checks: ProbeResult['checks'] = [];
  try {
    for (const statement of database.statements) {
      try {
        const value = await session.firstValue(statement);
        checks.push({ statement, held: probeValueHolds(value), detail: `returned ${shown(value)}` });
      } catch (error) {
        checks.push({ statement, held: false, detail: `failed: ${short(errorMessage(error))}` });
      }
    }
  } finally {
    await session.close();
  }
  return { resource: request.resource, connected: true, checks };
}
