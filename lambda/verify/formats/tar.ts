import type { BackupManifest } from '../../shared/manifest';
import { FormatError, type FormatInspector, type FormatReport } from './format-report';
import { PullDriver, bytes, bytesOrEnd, skip, type PullParser } from './pull-parser';

/**
 * A tar archive (GNU tar or POSIX/ustar with pax headers) read header by header: each 512-byte
 * header's checksum, GNU long names and pax extended headers (which may override size and path),
 * the end-of-archive marker of two zero blocks and nothing but zero padding after it. Regular
 * files are counted and their sizes summed; their contents are skipped, never held.
 */
const BLOCK = 512;
const MAX_EXTENDED_HEADER = 1024 * 1024;

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

function cString(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
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

export function* tarParser(figures: TarFigures): PullParser {
  let offset = 0;
  let nextPath: string | undefined;
  let nextSize: number | undefined;
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
      if (type === 'L') nextPath = cString(data.subarray(0, size));
      if (type === 'x') {
        const records = paxRecords(data.subarray(0, size));
        if (records.has('path')) nextPath = records.get('path');
        if (records.has('size')) nextSize = Number(records.get('size'));
      }
      continue;
    }
    const effectiveSize = nextSize ?? dataSize;
    const effectivePadded = nextSize !== undefined ? Math.ceil(nextSize / BLOCK) * BLOCK : padded;
    if (type === '0' || type === '\0' || type === '7') {
      figures.regularFiles++;
      figures.fileBytes += effectiveSize;
    } else if (type === 'S') {
      // GNU sparse: the header holds the real size at 483; only the stored parts follow.
      figures.regularFiles++;
      figures.fileBytes += octal(header.subarray(483, 495));
    } else if (type === '1') figures.hardLinks++;
    else if (type === '2') figures.symlinks++;
    else if (type === '5') figures.directories++;
    else figures.otherEntries++;
    nextPath = undefined;
    nextSize = undefined;
    yield skip(effectivePadded, `the contents of ${JSON.stringify(name)}`);
    offset += effectivePadded;
  }
}

export class TarInspector implements FormatInspector {
  private readonly figures: TarFigures = { regularFiles: 0, hardLinks: 0, directories: 0, symlinks: 0, otherEntries: 0, fileBytes: 0, endMarker: false };
  private readonly driver = new PullDriver(tarParser(this.figures));

  constructor(private readonly manifest?: Pick<BackupManifest, 'files'>) {}

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
    return { format: 'tar', problems, skipped: [], figures: { ...this.figures } };
  }
}
