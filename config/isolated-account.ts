import type { BackupKitConfigInput } from '../lib/config/config';
import { exampleConfig } from './example';

/**
 * The example with its replica in an isolated backup account (`-c config=isolated-account`):
 * the replica bucket and its key live in `replication.isolatedAccount`, where nobody of the
 * workload account, its root included, can reach them. Replace both account IDs with yours;
 * the deploy steps are in docs/security.md#isolated-backup-account.
 */
const config: BackupKitConfigInput = {
  ...exampleConfig,
  account: '111122223333',
  replication: { replicationTimeControl: true, metrics: true, isolatedAccount: '222222222222' },
};

export default config;
