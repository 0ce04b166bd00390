/**
 * Prints the SHA-256 of each instance script as the SSM documents embed it (without its comment
 * and blank lines), in `sha256sum`'s format: the lines the deployed documents list and check.
 *
 *   npm run -s scripts:sha256
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { DEFAULT_INSTANCE_SCRIPTS_DIR, withoutCommentLines } from '../lib/constructs/instance-command-document';
import { RESTORE_SCRIPT_FILES } from '../lib/constructs/restore-command-document';

const lines = RESTORE_SCRIPT_FILES.map((file) => {
  const embedded = withoutCommentLines(readFileSync(join(DEFAULT_INSTANCE_SCRIPTS_DIR, file), 'utf8'));
  return `${createHash('sha256').update(embedded).digest('hex')}  ${file}\n`;
});
process.stdout.write(lines.join(''));
