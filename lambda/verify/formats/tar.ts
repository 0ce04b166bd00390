import { createHash } from 'node:crypto';
import type { BackupManifest } from '../../../contracts/manifest';
import { FormatError, type FormatInspector, type FormatReport } from './format-report';
import { PullDriver, bytes, bytesOrEnd, skip, type PullParser } from './pull-parser';

/**
 * A tar archive (GNU tar or POSIX/ustar with pax headers) read header by header: each 512-byte
 * header's checksum, GNU long names and pax extended headers (which may override size and path),
 * the end-of-archive marker of two zero blocks and nothing but zero padding after it. Regular
 * files are counted and their sizes summed; their contents are skipped, or hashed as they pass for
 * the per-file index, never held.
 */
const BLOCK = 512;
const MAX_EXTENDED_HEADER = 1024 * 1024;
/** File contents are hashed in pieces of at most this size (served without copying when they lie in one chunk). */
const HASH_PIECE = 64 * 1024;
/** Above this many files the index is not recomputed (its records are sorted in memory); the verdict says so. */
const MAX_INDEXED_FILES = 500_000;

/**
 * The per-file index exactly as backup.sh takes it (FILES_INDEX_PY in scripts/instance/common.sh):
 * a record `<sha256> <size> <path>\0` per regular file, a hard link under its own name with its
 * file's content, paths without the leading `./`, sorted by path bytes; the count and the SHA-256
 * of the records.
 */
export class FileIndex {
  private readonly records = new Map<string, { readonly path: Buffer; readonly sha256: string; readonly size: number }>();
  /** Why the index cannot be recomputed from this archive, if it cannot. */
  unindexable: string | undefined;

  addFile(path: Buffer, sha256: string, size: number): void {
    const relative = withoutDotSlash(path);
    this.records.set(relative.toString('latin1'), { path: relative, sha256, size });
    if (this.records.size > MAX_INDEXED_FILES) this.giveUp(`more than ${MAX_INDEXED_FILES} files`);
  }

  addHardLink(path: Buffer, target: Buffer): void {
    const file = this.records.get(withoutDotSlash(target).toString('latin1'));
    if (!file) this.giveUp(`the hard link ${JSON.stringify(path.toString('utf8'))} names a file not archived before it`);
    else this.addFile(path, file.sha256, file.size);
  }

  giveUp(why: string): void {
    this.unindexable ??= why;
    this.records.clear();
  }

  summary(): { count: number; sha256: string } {
    const hash = createHash('sha256');
    const sorted = [...this.records.values()].sort((a, b) => Buffer.compare(a.path, b.path));
    for (const record of sorted) hash.update(Buffer.concat([Buffer.from(`${record.sha256} ${record.size} `, 'latin1'), record.path, Buffer.from([0])]));
    return { count: sorted.length, sha256: hash.digest('hex') };
  }
}

function withoutDotSlash(path: Buffer): Buffer {
  return path[0] === 0x2e && path[1] === 0x2f ? path.subarray(2) : path;
}

export interface TarFigures {
  regularFiles: number;
  hardLinks: number;
  directories: number;
  symlinks: number;
  otherEntries: number;
  fileBytes: number;
  endMarker: boolean;
}

function octal(field: Buffer): number {
  // GNU base-256 for values that do not fit in octal (files of 8 GiB and more).
  if ((field[0] ?? 0) & 0x80) {
    let value = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return value;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new FormatError(`numeric header field ${JSON.stringify(text)} is not octal`);
  return parseInt(text, 8);
}

function headerChecksumOk(header: Buffer): boolean {
  const stored = octal(header.subarray(148, 156));
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

function cBytes(field: Buffer): Buffer {
  const end = field.indexOf(0);
  return Buffer.from(field.subarray(0, end < 0 ? field.length : end));
}

function cString(field: Buffer): string {
  return cBytes(field).toString('utf8');
}

/** A member's path as tar stores it: a ustar prefix joined to the name, as GNU tar and Python read it. */
function headerPath(header: Buffer): Buffer {
  const name = cBytes(header.subarray(0, 100));
  if (header.subarray(257, 263).toString('latin1') !== 'ustar\0') return name;
  const prefix = cBytes(header.subarray(345, 500));
  return prefix.length > 0 ? Buffer.concat([prefix, Buffer.from('/'), name]) : name;
}

/** pax records: "<length> <key>=<value>\n". */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number(data.subarray(at, space).toString('latin1'));
    if (!Number.isInteger(length) || length <= 0 || at + length > data.length) throw new FormatError('malformed pax extended header record');
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    at += length;
  }
  return records;
}

const isZero = (block: Buffer): boolean => block.every((byte) => byte === 0);

/** `index`: hash every regular file's content into it (when the manifest has a per-file index to compare). */
export function* tarParser(figures: TarFigures, index?: FileIndex): PullParser {
  let offset = 0;
  let nextPath: string | undefined;
  let nextSize: number | undefined;
  let nextPathBytes: Buffer | undefined;
  let nextLinkBytes: Buffer | undefined;
  for (;;) {
    const header = yield bytesOrEnd(BLOCK, `the header at offset ${offset}`);
    if (header === undefined) {
      throw new FormatError(`the archive ends at offset ${offset} without the end-of-archive marker (two zero blocks): truncated`);
    }
    offset += BLOCK;
    if (isZero(header)) {
      const second = yield bytesOrEnd(BLOCK, 'the second end-of-archive block');
      if (second === undefined || !isZero(second)) {
        throw new FormatError(`only one zero block at offset ${offset - BLOCK}: the end-of-archive marker is incomplete or the archive is corrupt`);
      }
      figures.endMarker = true;
      // Tar pads to its record size with zeros; anything else after the marker is foreign.
      for (;;) {
        const padding = yield bytesOrEnd(BLOCK, 'the padding after the end-of-archive marker');
        if (padding === undefined) return;
        if (!isZero(padding)) throw new FormatError('non-zero data after the end-of-archive marker');
      }
    }
    const name = cString(header.subarray(0, 100));
    if (!headerChecksumOk(header)) {
      throw new FormatError(`header checksum mismatch at offset ${offset - BLOCK} (entry ${JSON.stringify(nextPath ?? name)}): corrupt archive`);
    }
    const type = String.fromCharCode(header[156] ?? 0);
    const size = octal(header.subarray(124, 136));
    const dataSize = type === '5' || type === '1' || type === '2' ? 0 : size;
    const padded = Math.ceil(dataSize / BLOCK) * BLOCK;
    if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
      if (size > MAX_EXTENDED_HEADER) throw new FormatError(`extended header of ${size} bytes at offset ${offset - BLOCK} is implausibly large`);
      const data = (yield bytes(padded, `the extended header at offset ${offset - BLOCK}`)) ?? Buffer.alloc(0);
      offset += padded;
      if (type === 'L') {
        nextPathBytes = cBytes(data.subarray(0, size));
        nextPath = nextPathBytes.toString('utf8');
      }
      if (type === 'K') nextLinkBytes = cBytes(data.subarray(0, size));
      if (type === 'x') {
        const records = paxRecords(data.subarray(0, size));
        const path = records.get('path');
        if (path !== undefined) {
          nextPath = path;
          nextPathBytes = Buffer.from(path, 'utf8');
        }
        const linkPath = records.get('linkpath');
        if (linkPath !== undefined) nextLinkBytes = Buffer.from(linkPath, 'utf8');
        if (records.has('size')) nextSize = Number(records.get('size'));
      }
      continue;
    }
    const effectiveSize = nextSize ?? dataSize;
    const effectivePadded = nextSize !== undefined ? Math.ceil(nextSize / BLOCK) * BLOCK : padded;
    const path = nextPathBytes ?? headerPath(header);
    const linkTarget = nextLinkBytes ?? cBytes(header.subarray(157, 257));
    nextPath = undefined;
    nextSize = undefined;
    nextPathBytes = undefined;
    nextLinkBytes = undefined;
    const what = `the contents of ${JSON.stringify(path.toString('utf8'))}`;
    if (type === '0' || type === '\0' || type === '7') {
      figures.regularFiles++;
      figures.fileBytes += effectiveSize;
      if (index && index.unindexable === undefined) {
        const hash = createHash('sha256');
        for (let left = effectiveSize; left > 0; ) {
          const n = Math.min(left, HASH_PIECE);
          const piece = yield bytes(n, what);
          if (piece) hash.update(piece);
          left -= n;
        }
        index.addFile(path, hash.digest('hex'), effectiveSize);
        yield skip(effectivePadded - effectiveSize, what);
        offset += effectivePadded;
        continue;
      }
    } else if (type === 'S') {
      // GNU sparse: the header holds the real size at 483; only the stored parts follow.
      figures.regularFiles++;
      figures.fileBytes += octal(header.subarray(483, 495));
      index?.giveUp(`${JSON.stringify(path.toString('utf8'))} is stored sparse`);
    } else if (type === '1') {
      figures.hardLinks++;
      index?.addHardLink(path, linkTarget);
    } else if (type === '2') figures.symlinks++;
    else if (type === '5') figures.directories++;
    else figures.otherEntries++;
    yield skip(effectivePadded, what);
    offset += effectivePadded;
  }
}

export class TarInspector implements FormatInspector {
  private readonly figures: TarFigures = { regularFiles: 0, hardLinks: 0, directories: 0, symlinks: 0, otherEntries: 0, fileBytes: 0, endMarker: false };
  private readonly index: FileIndex | undefined;
  private readonly driver: PullDriver;

  constructor(private readonly manifest?: Pick<BackupManifest, 'files'>) {
    this.index = manifest?.files?.index ? new FileIndex() : undefined;
    this.driver = new PullDriver(tarParser(this.figures, this.index));
  }

  write(chunk: Buffer): void {
    this.driver.write(chunk);
  }

  async finish(): Promise<FormatReport> {
    const problems: string[] = [];
    const problem = this.driver.end();
    if (problem) problems.push(`tar: ${problem}`);
    const expected = this.manifest?.files;
    const { regularFiles, hardLinks, fileBytes } = this.figures;
    if (!problem && expected) {
      // A hard link is a second name of a file already archived; a manifest may count it either way.
      if (expected.fileCount !== regularFiles && expected.fileCount !== regularFiles + hardLinks) {
        problems.push(`tar: ${regularFiles} regular files in the archive but the manifest counted ${expected.fileCount}`);
      }
      if (expected.totalBytes !== fileBytes) {
        problems.push(`tar: the archive's files total ${fileBytes} bytes but the manifest says ${expected.totalBytes}`);
      }
      // Entries by type, where the manifest has them: a member cut short swallows the next header.
      const byType: [string, number | undefined, number][] = [
        ['directories', expected.directoryCount, this.figures.directories],
        ['symlinks', expected.symlinkCount, this.figures.symlinks],
        ['hard links', expected.hardLinkCount, hardLinks],
      ];
      for (const [what, counted, found] of byType) {
        if (counted !== undefined && counted !== found) problems.push(`tar: ${found} ${what} in the archive but the manifest counted ${counted}`);
      }
    }
    const skipped: string[] = [];
    const figures: Record<string, string | number | boolean> = { ...this.figures };
    const expectedIndex = expected?.index;
    if (!problem && expectedIndex && this.index) {
      if (this.index.unindexable !== undefined) {
        skipped.push(`per-file index: not recomputed (${this.index.unindexable}); the content digest still covers the whole archive`);
      } else {
        const found = this.index.summary();
        figures.indexedFiles = found.count;
        if (found.count !== expectedIndex.count || found.sha256 !== expectedIndex.sha256) {
          problems.push(
            `tar: the files are not those the backup read: the per-file index taken at backup lists ${expectedIndex.count} files (SHA-256 ${expectedIndex.sha256}), the archive holds ${found.count} (SHA-256 ${found.sha256}): a file's content, size or name differs`,
          );
        }
      }
    } else if (!problem && expected && !expectedIndex) {
      skipped.push('per-file index: the manifest has none (the backup instance had no python3, or an older script); the content digest still covers the whole archive');
    }
    return { format: 'tar', problems, skipped, figures };
  }
}
