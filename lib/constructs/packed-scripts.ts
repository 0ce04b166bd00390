import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { documentContentSha256 } from '../../lambda/shared/backup-command';

/**
 * How the instance-command documents (backup, restore) carry the instance scripts: each script
 * gzip- then base64-encoded in a here-document, unpacked on the instance into a private
 * directory and checked against its SHA-256, which the document also prints in plain text
 * (compare with `sha256sum scripts/instance/*.sh` of the deployed revision). Packed, the scripts
 * fit SSM's 64 KB document limit with room to grow, and nothing in them can be read by SSM as a
 * `{{ parameter }}` or end the here-document early (base64 has neither braces nor underscores).
 */

/** SSM's limit on a document's content. */
export const MAX_DOCUMENT_BYTES = 64 * 1024;
const RESERVED_NAME_PREFIXES = /^(aws|amazon|amzn)/i;
const END_OF_PACKED_SCRIPT = 'BACKUP_KIT_END_OF_PACKED_SCRIPT';

export interface PackedScript {
  /** The file name the script is unpacked as, e.g. `backup.sh`. */
  readonly file: string;
  readonly sha256: string;
  /** gzip then base64, in 76-character lines. */
  readonly base64Lines: readonly string[];
}

/** The document name SSM accepts and does not reserve; `owner` names the construct in the error. */
export function checkDocumentName(owner: string, documentName: string): void {
  if (!/^[A-Za-z0-9_.-]{3,128}$/.test(documentName)) {
    throw new Error(`${owner} documentName: '${documentName}' must be 3-128 letters, digits and _ . -`);
  }
  if (RESERVED_NAME_PREFIXES.test(documentName)) {
    throw new Error(`${owner} documentName: '${documentName}' starts with a prefix AWS reserves (aws, amazon, amzn)`);
  }
}

/** Reads and packs one script; `label` is its key in the construct's `scripts` prop. */
export function packScript(owner: string, label: string, path: string): PackedScript {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (error) {
    throw new Error(`${owner} scripts.${label}: cannot read ${path}: ${(error as Error).message}`);
  }
  if (text.includes('\r')) {
    throw new Error(`${owner} scripts.${label}: ${path} has CR line endings; bash on the instance needs LF`);
  }
  // mtime 0 in the gzip header: the same script always packs to the same bytes (stable document versions).
  const base64 = gzipSync(text, { level: 9 }).toString('base64');
  return {
    file: `${label}.sh`,
    sha256: createHash('sha256').update(text).digest('hex'),
    base64Lines: base64.match(/.{1,76}/g) ?? [],
  };
}

/**
 * Shell lines (POSIX) that print each script's SHA-256 as a comment, then unpack each into
 * `$work_dir` and stop the step if one does not match it.
 */
export function unpackScriptLines(scripts: readonly PackedScript[]): string[] {
  return [
    ...scripts.map((script) => `# ${script.file} sha256 ${script.sha256}`),
    ...scripts.flatMap((script) => [
      `base64 -d > "$work_dir/${script.file}.gz" <<'${END_OF_PACKED_SCRIPT}'`,
      ...script.base64Lines,
      END_OF_PACKED_SCRIPT,
      `gzip -d "$work_dir/${script.file}.gz"`,
      `echo '${script.sha256}  '"$work_dir/${script.file}" | sha256sum -c --quiet -`,
    ]),
  ];
}

/** The content's canonical SHA-256, once its size is within SSM's limit. */
export function checkedContentSha256(owner: string, content: Record<string, unknown>): string {
  const bytes = Buffer.byteLength(JSON.stringify(content), 'utf8');
  if (bytes > MAX_DOCUMENT_BYTES) {
    throw new Error(`${owner} scripts: the document would be ${bytes} bytes with the embedded scripts; SSM accepts at most ${MAX_DOCUMENT_BYTES}`);
  }
  return documentContentSha256(content);
}
