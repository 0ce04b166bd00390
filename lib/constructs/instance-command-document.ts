import { Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { documentContentSha256, EXECUTION_TIMEOUT_PARAMETER, type DocumentParameterSpec } from '../../contracts/backup-command';

/** `scripts/instance/` of this repository: every instance script, sourced from one directory. */
export const DEFAULT_INSTANCE_SCRIPTS_DIR = resolve(__dirname, '../../scripts/instance');

/** SSM's limit on a document's content. */
export const MAX_DOCUMENT_BYTES = 64 * 1024;
const RESERVED_NAME_PREFIXES = /^(aws|amazon|amzn)/i;
const END_OF_BUNDLE = 'BACKUP_KIT_END_OF_SCRIPT_BUNDLE';
const END_OF_CHECKSUMS = 'BACKUP_KIT_END_OF_SCRIPT_SHA256';
/** Long lines keep the JSON overhead per base64 byte small (a 76-character line costs 4% more). */
const BASE64_LINE_LENGTH = 1024;

export interface InstanceCommandDocumentProps {
  /** Name of the document: the senders send it, the result rule filters on it, IAM names it. */
  readonly documentName: string;
  /** What the document does, shown in the SSM console. */
  readonly description: string;
  /** Name of the one step: GetCommandInvocation and the log streams are named by it. */
  readonly stepName: string;
  /** The document's parameters, each exported to the script as its `env` variable. */
  readonly parameters: Readonly<Record<string, DocumentParameterSpec>>;
  /** Description of the `executionTimeout` parameter. */
  readonly executionTimeoutDescription: string;
  /** The script files to embed, by name, all in `scriptsDir`. */
  readonly scriptFiles: readonly string[];
  /** The one of `scriptFiles` the step runs with bash; it sources the others from its own directory. */
  readonly entryScript: string;
  /**
   * Directory holding `scriptFiles`.
   * @default DEFAULT_INSTANCE_SCRIPTS_DIR
   */
  readonly scriptsDir?: string;
  /**
   * Seconds a command may run when the sender passes no `executionTimeout`.
   * @default 7200 (two hours)
   */
  readonly defaultExecutionTimeoutSeconds?: number;
}

/**
 * An SSM Command document that runs one instance script with its settings. The scripts travel
 * inside it as one gzip-compressed tar, base64-encoded in a here-document (base64 has neither
 * braces nor underscores, so SSM cannot read a `{{ parameter }}` in it and nothing in it ends
 * the here-document early), without their comment lines (see withoutCommentLines); the step
 * unpacks them into a private temporary directory and checks each against its SHA-256, listed in
 * plain text in `sha256sum`'s format (`npm run -s scripts:sha256` prints the same lines). Every parameter has an
 * `allowedPattern` that admits no quote, backslash, newline or brace, and is interpolated only
 * inside single quotes, so a value cannot change the command text. Updates create a new
 * version of the same document, which becomes the default; `contentSha256` lets a sender find
 * and pin exactly the version this deployment created.
 */
export class InstanceCommandDocument extends Construct {
  readonly document: ssm.CfnDocument;
  readonly documentName: string;
  readonly documentArn: string;
  /** The document content as deployed. */
  readonly content: Record<string, unknown>;
  /** Canonical SHA-256 of `content` (see `documentContentSha256`). */
  readonly contentSha256: string;
  /** SHA-256 of each embedded script, by file name. */
  readonly scriptSha256: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: InstanceCommandDocumentProps) {
    super(scope, id);
    const owner = this.constructor.name;
    checkDocumentName(owner, props.documentName);
    const defaultTimeout = props.defaultExecutionTimeoutSeconds ?? 7200;
    if (!new RegExp(EXECUTION_TIMEOUT_PARAMETER.pattern).test(String(defaultTimeout))) {
      throw new Error(`${owner} defaultExecutionTimeoutSeconds: must be 1-${EXECUTION_TIMEOUT_PARAMETER.maxSeconds} (got ${defaultTimeout})`);
    }
    if (!props.scriptFiles.includes(props.entryScript)) {
      throw new Error(`${owner} entryScript: '${props.entryScript}' is not one of the scriptFiles`);
    }
    const bundle = bundleScripts(owner, props.scriptsDir ?? DEFAULT_INSTANCE_SCRIPTS_DIR, props.scriptFiles);
    this.scriptSha256 = bundle.sha256;

    this.content = {
      schemaVersion: '2.2',
      description: props.description,
      parameters: documentParameters(props, defaultTimeout),
      mainSteps: [
        {
          action: 'aws:runShellScript',
          name: props.stepName,
          precondition: { StringEquals: ['platformType', 'Linux'] },
          inputs: {
            timeoutSeconds: `{{ ${EXECUTION_TIMEOUT_PARAMETER.name} }}`,
            runCommand: runCommandLines(props, bundle),
          },
        },
      ],
    };
    const bytes = Buffer.byteLength(JSON.stringify(this.content), 'utf8');
    if (bytes > MAX_DOCUMENT_BYTES) {
      throw new Error(`${owner} scripts: the document would be ${bytes} bytes with the embedded scripts; SSM accepts at most ${MAX_DOCUMENT_BYTES}`);
    }
    this.contentSha256 = documentContentSha256(this.content);
    this.documentName = props.documentName;
    this.document = new ssm.CfnDocument(this, 'Document', {
      name: props.documentName,
      documentType: 'Command',
      documentFormat: 'JSON',
      targetType: '/AWS::EC2::Instance',
      updateMethod: 'NewVersion',
      content: this.content,
    });
    this.documentArn = Stack.of(this).formatArn({ service: 'ssm', resource: 'document', resourceName: props.documentName });
  }
}

/** The document name SSM accepts and does not reserve; `owner` names the construct in the error. */
function checkDocumentName(owner: string, documentName: string): void {
  if (!/^[A-Za-z0-9_.-]{3,128}$/.test(documentName)) {
    throw new Error(`${owner} documentName: '${documentName}' must be 3-128 letters, digits and _ . -`);
  }
  if (RESERVED_NAME_PREFIXES.test(documentName)) {
    throw new Error(`${owner} documentName: '${documentName}' starts with a prefix AWS reserves (aws, amazon, amzn)`);
  }
}

interface ScriptBundle {
  readonly sha256: Readonly<Record<string, string>>;
  /** The tar, gzip-compressed then base64-encoded, in lines. */
  readonly base64Lines: readonly string[];
}

function bundleScripts(owner: string, dir: string, files: readonly string[]): ScriptBundle {
  const sha256: Record<string, string> = {};
  const entries = files.map((file) => {
    if (!/^[a-z0-9][a-z0-9-]*\.sh$/.test(file)) throw new Error(`${owner} scripts: '${file}' is not a plain script file name`);
    const path = join(dir, file);
    let text: Buffer;
    try {
      text = readFileSync(path);
    } catch (error) {
      throw new Error(`${owner} scripts.${file}: cannot read ${path}: ${(error as Error).message}`);
    }
    if (text.includes('\r')) throw new Error(`${owner} scripts.${file}: ${path} has CR line endings; bash on the instance needs LF`);
    const embedded = Buffer.from(withoutCommentLines(text.toString('utf8')), 'utf8');
    sha256[file] = createHash('sha256').update(embedded).digest('hex');
    return { file, text: embedded };
  });
  // mtime 0 in the tar and gzip headers: the same scripts always pack to the same bytes (stable document versions).
  const base64 = gzipSync(ustar(entries), { level: 9 }).toString('base64');
  return { sha256, base64Lines: base64.match(new RegExp(`.{1,${BASE64_LINE_LENGTH}}`, 'g')) ?? [] };
}

/**
 * The script as embedded: without its comment lines and blank lines (a quarter of the text, which
 * SSM's 64 KB must hold), the first line kept. Lines inside quotes and here-documents are kept
 * as they are. The code is the same: test/backup-jobs/embedded-scripts.test.ts has bash parse
 * both and compare what it parsed.
 */
export function withoutCommentLines(script: string): string {
  const kept: string[] = [];
  let quote: "'" | '"' | '$\'' | undefined;
  let hereDocumentEnd: { word: string; tabs: boolean } | undefined;
  const pendingHereDocuments: { word: string; tabs: boolean }[] = [];
  // After a line ending in an unquoted backslash the next line continues it: kept, whatever it is.
  let continued = false;
  script.split('\n').forEach((line, index) => {
    if (hereDocumentEnd) {
      kept.push(line);
      if ((hereDocumentEnd.tabs ? line.replace(/^\t+/, '') : line) === hereDocumentEnd.word) hereDocumentEnd = pendingHereDocuments.shift();
      return;
    }
    if (quote === undefined && !continued && index > 0 && /^[ \t]*(#.*)?$/.test(line)) return;
    kept.push(line);
    continued = false;
    for (let at = 0; at < line.length; at++) {
      const char = line[at];
      if (quote === "'") {
        if (char === "'") quote = undefined;
      } else if (quote === '$\'' || quote === '"') {
        if (char === '\\') at++;
        else if ((quote === '"' && char === '"') || (quote === '$\'' && char === "'")) quote = undefined;
      } else if (char === '\\') {
        continued = at === line.length - 1;
        at++;
      } else if (char === '#' && (at === 0 || /[\s;&|(]/.test(line[at - 1] ?? ''))) {
        break;
      } else if (char === '$' && line[at + 1] === "'") {
        quote = '$\'';
        at++;
      } else if (char === "'" || char === '"') {
        quote = char;
      } else if (char === '<' && line[at + 1] === '<' && line[at + 2] !== '<') {
        const match = /^<<(-?)[ \t]*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\2/.exec(line.slice(at));
        if (match) {
          pendingHereDocuments.push({ word: match[3] ?? '', tabs: match[1] === '-' });
          at += match[0].length - 1;
        } else {
          at++;
        }
      }
    }
    if (quote === undefined && hereDocumentEnd === undefined) hereDocumentEnd = pendingHereDocuments.shift();
  });
  return `${kept.join('\n').replace(/\n*$/, '')}\n`;
}

/** A POSIX ustar archive of regular files: root's, mode 0600, mtime 0. */
export function ustar(entries: readonly { file: string; text: Buffer }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const { file, text } of entries) {
    const header = Buffer.alloc(512);
    const field = (offset: number, length: number, value: string) => header.write(value, offset, length, 'ascii');
    const octal = (offset: number, length: number, value: number) => field(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
    field(0, 100, file);
    octal(100, 8, 0o600);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, text.length);
    octal(136, 12, 0);
    field(148, 8, ' '.repeat(8));
    field(156, 1, '0');
    field(257, 8, 'ustar\x0000');
    field(265, 32, 'root');
    field(297, 32, 'root');
    const checksum = header.reduce((sum, byte) => sum + byte, 0);
    field(148, 8, `${checksum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(header, text, Buffer.alloc((512 - (text.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function documentParameters(props: InstanceCommandDocumentProps, defaultTimeout: number): Record<string, Record<string, string>> {
  const parameters: Record<string, Record<string, string>> = {};
  for (const [name, spec] of Object.entries(props.parameters)) {
    parameters[name] = { type: 'String', description: spec.description, allowedPattern: spec.pattern, ...(spec.optional ? { default: '' } : {}) };
  }
  parameters[EXECUTION_TIMEOUT_PARAMETER.name] = {
    type: 'String',
    description: props.executionTimeoutDescription,
    allowedPattern: EXECUTION_TIMEOUT_PARAMETER.pattern,
    default: String(defaultTimeout),
  };
  return parameters;
}

/**
 * The step's shell text. It runs under `sh` or `bash` (the agent honours the first-line
 * shebang), so it keeps to POSIX; the scripts themselves run under bash.
 */
function runCommandLines(props: InstanceCommandDocumentProps, bundle: ScriptBundle): string[] {
  const specs = Object.entries(props.parameters);
  const files = Object.entries(bundle.sha256);
  return [
    '#!/bin/bash',
    `# backup-kit: unpack the instance scripts into a private directory, check them, export the settings, run ${props.entryScript}.`,
    'set -eu',
    'umask 077',
    `work_dir="$(mktemp -d "\${TMPDIR:-/tmp}/backup-kit-${props.stepName}.XXXXXXXXXX")"`,
    `trap 'rm -rf -- "$work_dir"' EXIT`,
    `base64 -d > "$work_dir/scripts.tar.gz" <<'${END_OF_BUNDLE}'`,
    ...bundle.base64Lines,
    END_OF_BUNDLE,
    'tar -xzf "$work_dir/scripts.tar.gz" -C "$work_dir"',
    'cd "$work_dir"',
    '# Each script against its SHA-256 (`npm run -s scripts:sha256` on the deployed revision prints these lines).',
    `sha256sum -c --quiet - <<'${END_OF_CHECKSUMS}'`,
    ...files.map(([file, sha]) => `${sha}  ${file}`),
    END_OF_CHECKSUMS,
    '# Values passed the allowedPattern of their parameter: no quote, backslash, newline or brace.',
    ...specs.map(([name, spec]) => `export ${spec.env}='{{ ${name} }}'`),
    '# Optional settings left empty are unset, so the script sees them as not given.',
    ...specs.filter(([, spec]) => spec.optional).map(([, spec]) => `[ -n "$${spec.env}" ] || unset ${spec.env}`),
    'if [ -n "${AWS_SSM_INSTANCE_ID:-}" ]; then export BK_INSTANCE_ID="$AWS_SSM_INSTANCE_ID"; fi',
    `bash "$work_dir/${props.entryScript}"`,
  ];
}
