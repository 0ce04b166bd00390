import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DOCUMENT_PARAMETERS,
  EXECUTION_TIMEOUT_PARAMETER,
  documentContentSha256,
  matchesParameterPattern,
} from '../../contracts/backup-command';
import { BACKUP_SCRIPT_FILES, BackupCommandDocument } from '../../lib/constructs/backup-command-document';
import { withoutCommentLines } from '../../lib/constructs/instance-command-document';
import { renderDocumentStep } from './support';

const fixtures = resolve(__dirname, 'fixtures');

/** A copy of the fixture scripts with `replaced` files (name → text, or null to leave it out). */
function fixturesWith(replaced: Record<string, string | null>): string {
  const dir = mkdtempSync(join(tmpdir(), 'backup-doc-'));
  for (const file of BACKUP_SCRIPT_FILES) {
    const text = file in replaced ? replaced[file] : readFileSync(join(fixtures, file), 'utf8');
    if (text !== null && text !== undefined) writeFileSync(join(dir, file), text);
  }
  return dir;
}

function documentIn(props: Partial<ConstructorParameters<typeof BackupCommandDocument>[2]> = {}): { stack: Stack; document: BackupCommandDocument } {
  const stack = new Stack(new App(), 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const document = new BackupCommandDocument(stack, 'Document', { documentName: 'BackupKit-test-InstanceBackup', scriptsDir: fixtures, ...props });
  return { stack, document };
}

interface DocumentContent {
  schemaVersion: string;
  parameters: Record<string, { type: string; allowedPattern: string; default?: string }>;
  mainSteps: { action: string; name: string; precondition: unknown; inputs: { timeoutSeconds: string; runCommand: string[] } }[];
}

function scratchFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'backup-doc-')), name);
  writeFileSync(path, text);
  return path;
}

const validValues: Record<string, string> = {
  target: 'repairs-media',
  kind: 'files',
  tier: 'daily',
  bucket: 'backup-kit-storage-backupsbucket-abc123',
  kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b',
  retentionDays: '30',
  region: 'eu-west-1',
  objectLockMode: 'COMPLIANCE',
  dbHost: '',
  dbPort: '',
  dbName: '',
  dbUser: '',
  passwordSsmParameter: '',
  passwordSecretId: '',
  path: '/var/app/current/media dir',
  paths: '',
  excludes: 'cache/*:*.tmp',
  executionTimeout: '3600',
};

function runDocument(content: DocumentContent, values: Record<string, string>, env: NodeJS.ProcessEnv = {}, shell = 'bash') {
  const step = content.mainSteps[0];
  if (!step) throw new Error('the document has no step');
  for (const [name, value] of Object.entries(values)) {
    const pattern = name === EXECUTION_TIMEOUT_PARAMETER.name ? EXECUTION_TIMEOUT_PARAMETER.pattern : content.parameters[name]?.allowedPattern;
    expect(pattern && matchesParameterPattern(pattern, value), `${name}='${value}' must pass its allowedPattern`).toBe(true);
  }
  const script = scratchFile('_script.sh', renderDocumentStep(content, values));
  const tmp = mkdtempSync(join(tmpdir(), 'backup-doc-tmp-'));
  const result = spawnSync(shell, [script], { encoding: 'utf8', env: { PATH: process.env.PATH, TMPDIR: tmp, ...env } });
  const lines = result.stdout.split('\n');
  const variables = Object.fromEntries(lines.filter((line) => line.startsWith('ENV ')).map((line) => line.slice(4).split(/=(.*)/s).slice(0, 2)));
  const unset = lines.filter((line) => line.startsWith('UNSET ')).map((line) => line.slice(6));
  const dir = lines.find((line) => line.startsWith('DIR '))?.slice(4);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, variables, unset, dir, tmp };
}

describe('BackupCommandDocument: template', () => {
  it('GIVEN the document WHEN synthesized THEN it is a named Linux Command document updated by new versions', () => {
    const { stack } = documentIn();
    Template.fromStack(stack).hasResourceProperties('AWS::SSM::Document', {
      Name: 'BackupKit-test-InstanceBackup',
      DocumentType: 'Command',
      DocumentFormat: 'JSON',
      TargetType: '/AWS::EC2::Instance',
      UpdateMethod: 'NewVersion',
    });
  });

  it('GIVEN the document THEN every parameter is a String with an allowedPattern, optional ones default to empty', () => {
    const { document } = documentIn();
    const content = document.content as unknown as DocumentContent;
    expect(content.schemaVersion).toBe('2.2');
    expect(Object.keys(content.parameters).sort()).toEqual([...Object.keys(DOCUMENT_PARAMETERS), 'executionTimeout'].sort());
    for (const [name, parameter] of Object.entries(content.parameters)) {
      expect(parameter.type, name).toBe('String');
      expect(parameter.allowedPattern, name).toMatch(/^\^.*\$$/);
    }
    expect(content.parameters.dbHost?.default).toBe('');
    expect(content.parameters.target?.default).toBeUndefined();
    expect(content.parameters.executionTimeout?.default).toBe('7200');
  });

  it('GIVEN the document THEN its one step runs the shell script with the execution timeout parameter', () => {
    const { stack } = documentIn();
    const [resource] = Object.values(Template.fromStack(stack).findResources('AWS::SSM::Document'));
    const step = (resource?.Properties.Content as DocumentContent).mainSteps[0];
    expect(step).toMatchObject({ action: 'aws:runShellScript', name: 'backup', precondition: { StringEquals: ['platformType', 'Linux'] } });
    expect(step?.inputs.timeoutSeconds).toBe('{{ executionTimeout }}');
    expect(step?.inputs.runCommand[0]).toBe('#!/bin/bash');
  });

  it('GIVEN the scripts on disk THEN all are embedded in one bundle, with their SHA-256 in plain text, and GNU tar unpacks the same bytes', () => {
    const { document } = documentIn();
    const runCommand = (document.content as unknown as DocumentContent).mainSteps[0]?.inputs.runCommand ?? [];
    const start = runCommand.indexOf(`base64 -d > "$work_dir/scripts.tar.gz" <<'BACKUP_KIT_END_OF_SCRIPT_BUNDLE'`);
    const end = runCommand.indexOf('BACKUP_KIT_END_OF_SCRIPT_BUNDLE', start + 1);
    expect(start).toBeGreaterThan(0);
    const unpacked = mkdtempSync(join(tmpdir(), 'backup-doc-unpacked-'));
    writeFileSync(join(unpacked, 'scripts.tar.gz'), Buffer.from(runCommand.slice(start + 1, end).join(''), 'base64'));
    const listing = spawnSync('tar', ['-tvzf', 'scripts.tar.gz'], { cwd: unpacked, encoding: 'utf8' });
    expect(listing.status, listing.stderr).toBe(0);
    expect(listing.stdout.trim().split('\n').map((line) => line.split(/\s+/).at(-1))).toEqual([...BACKUP_SCRIPT_FILES]);
    expect(listing.stdout).toMatch(/^-rw------- root\/root /);
    const extracted = spawnSync('tar', ['-xzf', 'scripts.tar.gz'], { cwd: unpacked, encoding: 'utf8' });
    expect(extracted.status, extracted.stderr).toBe(0);
    for (const file of BACKUP_SCRIPT_FILES) {
      const text = Buffer.from(withoutCommentLines(readFileSync(join(fixtures, file), 'utf8')));
      expect(runCommand).toContain(`${createHash('sha256').update(text).digest('hex')}  ${file}`);
      expect(readFileSync(join(unpacked, file)).equals(text), file).toBe(true);
    }
    expect(documentIn().document.contentSha256, 'the same scripts pack to the same bytes').toBe(document.contentSha256);
  });

  it('GIVEN the same content with its keys in another order THEN the content hash is the same', () => {
    const { document } = documentIn();
    const reverseKeys = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(reverseKeys)
        : value !== null && typeof value === 'object'
          ? Object.fromEntries(Object.entries(value).reverse().map(([key, entry]) => [key, reverseKeys(entry)]))
          : value;
    const reordered = reverseKeys(JSON.parse(JSON.stringify(document.content, null, 2)));
    expect(Object.keys(reordered as object)[0]).toBe('mainSteps');
    expect(documentContentSha256(reordered)).toBe(document.contentSha256);
    expect(documentContentSha256({ ...document.content, description: 'changed' })).not.toBe(document.contentSha256);
    expect(document.contentSha256).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('BackupCommandDocument: parameter patterns keep values out of the command text', () => {
  const patterns = [
    ...Object.entries(DOCUMENT_PARAMETERS).map(([name, spec]) => [name, spec.pattern] as const),
    [EXECUTION_TIMEOUT_PARAMETER.name, EXECUTION_TIMEOUT_PARAMETER.pattern] as const,
  ];

  it.each(patterns)('GIVEN any value with a quote, backslash, newline, brace, $ or backtick THEN %s refuses it', (_name, pattern) => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom("'", '\\', '\n', '\r', '{', '}', '$', '`', '"'), fc.string(), (before, dangerous, after) => {
        expect(matchesParameterPattern(pattern, `${before}${dangerous}${after}`)).toBe(false);
      }),
    );
  });

  it('GIVEN classic injections THEN no parameter accepts them', () => {
    for (const attempt of ["x'; rm -rf / #", '$(reboot)', '`id`', 'a\nreboot', '{{ssm:/secret}}']) {
      for (const [name, pattern] of patterns) {
        expect(matchesParameterPattern(pattern, attempt), `${name} accepted ${JSON.stringify(attempt)}`).toBe(false);
      }
    }
  });
});

describe('BackupCommandDocument: the step, run for real with bash', () => {
  it('GIVEN valid parameters WHEN the step runs THEN the script gets every setting and empty optional ones are unset', () => {
    const { document } = documentIn();
    const run = runDocument(document.content as unknown as DocumentContent, validValues, { AWS_SSM_INSTANCE_ID: 'i-0123456789abcdef0' });
    expect(run.stderr).toContain('fixture: running from');
    expect(run.status).toBe(0);
    expect(run.variables).toMatchObject({
      BK_TARGET: 'repairs-media',
      BK_KIND: 'files',
      BK_TIER: 'daily',
      BK_BUCKET: validValues.bucket,
      BK_KMS_KEY_ID: validValues.kmsKeyId,
      BK_RETENTION_DAYS: '30',
      BK_REGION: 'eu-west-1',
      BK_OBJECT_LOCK_MODE: 'COMPLIANCE',
      BK_PATH: '/var/app/current/media dir',
      BK_EXCLUDES: 'cache/*:*.tmp',
      BK_INSTANCE_ID: 'i-0123456789abcdef0',
    });
    expect(run.unset).toEqual(['BK_DB_HOST', 'BK_DB_PORT', 'BK_DB_NAME', 'BK_DB_USER', 'BK_PASSWORD_SSM_PARAMETER', 'BK_PASSWORD_SECRET_ID', 'BK_PATHS']);
    expect(run.stdout).toMatch(/^BACKUP_RESULT \{"target":"repairs-media"/m);
  });

  it('GIVEN an agent that runs the step with sh rather than the shebang THEN it works the same (the step is POSIX)', () => {
    const { document } = documentIn();
    const run = runDocument(document.content as unknown as DocumentContent, validValues, { AWS_SSM_INSTANCE_ID: 'i-0123456789abcdef0' }, 'sh');
    expect(run.status).toBe(0);
    expect(run.variables).toMatchObject({ BK_TARGET: 'repairs-media', BK_PATH: '/var/app/current/media dir', BK_INSTANCE_ID: 'i-0123456789abcdef0' });
    expect(existsSync(run.dir ?? '/nonexistent')).toBe(false);
  });

  it('GIVEN no instance ID from the agent THEN BK_INSTANCE_ID stays unset for the script to find itself', () => {
    const { document } = documentIn();
    const run = runDocument(document.content as unknown as DocumentContent, validValues);
    expect(run.unset).toContain('BK_INSTANCE_ID');
  });

  it('GIVEN a run THEN the scripts ran from a private directory under TMPDIR that is gone afterwards', () => {
    const { document } = documentIn();
    const run = runDocument(document.content as unknown as DocumentContent, validValues);
    expect(run.dir?.startsWith(`${run.tmp}/backup-kit-backup.`)).toBe(true);
    expect(existsSync(run.dir ?? '/nonexistent')).toBe(false);
  });

  it('GIVEN the script fails with exit 3 THEN the step exits 3 and still removes its directory', () => {
    const { document } = documentIn();
    const run = runDocument(document.content as unknown as DocumentContent, { ...validValues, target: 'exit-3' });
    expect(run.status).toBe(3);
    expect(existsSync(run.dir ?? '/nonexistent')).toBe(false);
  });

  it('GIVEN a files target with several paths THEN they reach the script as BK_PATHS, and a path holding a quote or a newline fails the allowed pattern', () => {
    const { document } = documentIn();
    const content = document.content as unknown as DocumentContent;
    const paths = "/srv/app/.env.production:/etc/nginx/sites-available/drishti site:/srv/app/config.py";
    const run = runDocument(content, { ...validValues, path: '', excludes: '', paths });
    expect(run.variables).toMatchObject({ BK_PATHS: paths });
    expect(run.unset).toEqual(expect.arrayContaining(['BK_PATH', 'BK_EXCLUDES']));
    const pattern = content.parameters.paths?.allowedPattern ?? '';
    for (const bad of ["/srv/app/it's", '/srv/app/a\nb', 'relative/path', '/a::/b', "/a:relative"]) {
      expect(matchesParameterPattern(pattern, bad.replace('\\n', '\n')), bad).toBe(false);
    }
  });

  it('GIVEN a database target THEN the password is passed by name only', () => {
    const { document } = documentIn();
    const run = runDocument(document.content as unknown as DocumentContent, {
      ...validValues,
      kind: 'postgres',
      path: '',
      excludes: '',
      dbHost: '127.0.0.1',
      dbPort: '5432',
      dbName: 'orders',
      dbUser: 'backup',
      passwordSsmParameter: '/orders/prod/db-password',
    });
    expect(run.variables).toMatchObject({ BK_DB_HOST: '127.0.0.1', BK_DB_PORT: '5432', BK_PASSWORD_SSM_PARAMETER: '/orders/prod/db-password' });
    expect(run.unset).toEqual(expect.arrayContaining(['BK_PATH', 'BK_EXCLUDES', 'BK_PASSWORD_SECRET_ID']));
  });
});

describe('BackupCommandDocument: validation', () => {
  it('GIVEN a name with a reserved prefix THEN documentName is named', () => {
    expect(() => documentIn({ documentName: 'aws-backup' })).toThrow(/BackupCommandDocument documentName: 'aws-backup' starts with a prefix AWS reserves/);
  });

  it('GIVEN a missing script THEN the file is named with the path', () => {
    const scriptsDir = fixturesWith({ 'backup-upload.sh': null });
    expect(() => documentIn({ scriptsDir })).toThrow(new RegExp(`BackupCommandDocument scripts\\.backup-upload\\.sh: cannot read ${scriptsDir}/backup-upload\\.sh`));
  });

  it("GIVEN a script containing '{{' and the here-document delimiter THEN packed, neither reaches the document text, and the script runs unchanged", () => {
    const scriptsDir = fixturesWith({ 'backup.sh': "#!/bin/bash\necho 'braces {{ kept }}'\necho BACKUP_KIT_END_OF_SCRIPT_BUNDLE\n" });
    const { document } = documentIn({ scriptsDir });
    const content = document.content as unknown as DocumentContent;
    const lines = content.mainSteps[0]?.inputs.runCommand ?? [];
    expect(lines.filter((line) => line.includes('{{')).every((line) => /\{\{ [A-Za-z]+ \}\}/.test(line) && !line.includes('kept'))).toBe(true);
    const run = runDocument(content, validValues);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('braces {{ kept }}');
    expect(run.stdout).toContain('BACKUP_KIT_END_OF_SCRIPT_BUNDLE');
  });

  it('GIVEN a script with CRLF line endings THEN it is refused', () => {
    const scriptsDir = fixturesWith({ 'backup.sh': '#!/bin/bash\r\necho ok\r\n' });
    expect(() => documentIn({ scriptsDir })).toThrow(/scripts\.backup\.sh: .* has CR line endings/);
  });

  it('GIVEN scripts too large for SSM THEN the size is named', () => {
    // Random text (code: a comment line would be left out): packing cannot shrink it below SSM's limit.
    const scriptsDir = fixturesWith({ 'backup.sh': `#!/bin/bash\n: ${randomBytes(60_000).toString('hex')}\n` });
    expect(() => documentIn({ scriptsDir })).toThrow(/scripts: the document would be \d+ bytes with the embedded scripts; SSM accepts at most 65536/);
  });

  it('GIVEN a default timeout over 48 hours THEN defaultExecutionTimeoutSeconds is named', () => {
    expect(() => documentIn({ defaultExecutionTimeoutSeconds: 200_000 })).toThrow(/defaultExecutionTimeoutSeconds: must be 1-172800/);
  });
});
