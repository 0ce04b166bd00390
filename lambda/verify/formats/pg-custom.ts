import type { BackupManifest } from '../../shared/manifest';
import { FormatError, type FormatInspector, type FormatReport } from './format-report';
import { PullDriver, bytes, bytesOrEnd, skip, type PullParser, type PullRequest } from './pull-parser';

/**
 * PostgreSQL custom-format archive (`pg_dump -Fc`), read as pg_restore reads it
 * (pg_backup_archiver.c ReadHead/ReadToc, pg_backup_custom.c): the header, every table-of-contents
 * entry, then every data block and its length-prefixed chunks to the exact end of the stream.
 * Chunk payloads are skipped, never held, so memory does not depend on the dump's size.
 */

const version = (major: number, minor: number, rev = 0): number => (major * 256 + minor) * 256 + rev;
const K_VERS_1_8 = version(1, 8);
const K_VERS_1_9 = version(1, 9);
const K_VERS_1_10 = version(1, 10);
const K_VERS_1_11 = version(1, 11);
const K_VERS_1_12 = version(1, 12);
const K_VERS_1_14 = version(1, 14);
const K_VERS_1_15 = version(1, 15);
const K_VERS_1_16 = version(1, 16);
/** Newest archive version this reader knows (PostgreSQL 17): a newer one fails rather than being guessed at. */
const NEWEST_KNOWN = version(1, 16, 255);

const ARCH_CUSTOM = 1;
const BLK_DATA = 1;
const BLK_BLOBS = 3;
const K_OFFSET_POS_NOT_SET = 1;
const K_OFFSET_POS_SET = 2;
const K_OFFSET_NO_DATA = 3;
const COMPRESSION_NAMES = ['none', 'gzip', 'lz4', 'zstd'];
/** Strings read for their content; longer ones (function bodies, view definitions) are skipped. */
const MAX_READ_STRING = 1024 * 1024;

export interface PgArchiveFigures {
  archiveVersion: string;
  intSize: number;
  offSize: number;
  compression: string;
  database: string;
  serverVersion: string;
  pgDumpVersion: string;
  tocEntries: number;
  tables: number;
  partitionedTables: number;
  tableDataEntries: number;
  dataBlocks: number;
  dataBytes: number;
}

interface TocEntryInfo {
  readonly dumpId: number;
  readonly desc: string;
  readonly name: string;
  readonly expectsData: boolean;
}

function* readRawInt(intSize: number, what: string): Generator<PullRequest, number, Buffer | undefined> {
  const raw = yield bytes(1 + intSize, what);
  if (raw === undefined) throw new FormatError(`stream ended while reading ${what}`);
  let value = 0;
  for (let i = 0; i < intSize; i++) value += (raw[1 + i] ?? 0) * 2 ** (8 * i);
  return raw[0] === 0 ? value : -value;
}

/** ReadStr: an int length (negative = NULL) and that many bytes; long strings are skipped. */
function* readStr(intSize: number, what: string, keep = true): Generator<PullRequest, string | null, Buffer | undefined> {
  const length = yield* readRawInt(intSize, `length of ${what}`);
  if (length < 0) return null;
  if (!keep || length > MAX_READ_STRING) {
    yield skip(length, what);
    return '';
  }
  const raw = yield bytes(length, what);
  return raw === undefined ? '' : raw.toString('utf8');
}

export function* pgCustomParser(figures: Partial<PgArchiveFigures>, toc: TocEntryInfo[]): PullParser {
  const magic = yield bytes(5, 'the archive magic');
  if (magic?.toString('latin1') !== 'PGDMP') {
    throw new FormatError(`not a PostgreSQL custom-format archive: it starts with ${JSON.stringify(magic?.toString('latin1'))}, not "PGDMP"`);
  }
  const head = yield bytes(6, 'the archive version, int size, offset size and format');
  if (head === undefined) return;
  const [vmaj = 0, vmin = 0, vrev = 0, intSize = 0, offSize = 0, format = 0] = head;
  const archiveVersion = version(vmaj, vmin, vrev);
  figures.archiveVersion = `${vmaj}.${vmin}.${vrev}`;
  if (vmaj !== 1 || archiveVersion < K_VERS_1_12 || archiveVersion > NEWEST_KNOWN) {
    throw new FormatError(`unsupported archive version ${vmaj}.${vmin}.${vrev} (this verifier reads 1.12 to 1.16: PostgreSQL 9.0 to 17)`);
  }
  if (intSize < 1 || intSize > 8) throw new FormatError(`archive int size ${intSize} is not plausible (expected 4)`);
  if (offSize < 1 || offSize > 8) throw new FormatError(`archive offset size ${offSize} is not plausible (expected 8)`);
  figures.intSize = intSize;
  figures.offSize = offSize;
  if (format !== ARCH_CUSTOM) {
    throw new FormatError(`archive format byte is ${format}, not 1 (custom): not made with pg_dump -Fc`);
  }
  const readInt = (what: string) => readRawInt(intSize, what);
  if (archiveVersion >= K_VERS_1_15) {
    const algorithm = yield bytes(1, 'the compression algorithm');
    const code = algorithm?.[0] ?? 255;
    figures.compression = COMPRESSION_NAMES[code] ?? `unknown (${code})`;
    if (COMPRESSION_NAMES[code] === undefined) throw new FormatError(`unknown compression algorithm ${code} in the archive header`);
  } else {
    const level = yield* readInt('the compression level');
    figures.compression = level === 0 ? 'none' : `gzip (level ${level})`;
  }
  for (const field of ['sec', 'min', 'hour', 'mday', 'mon', 'year', 'isdst']) yield* readInt(`the creation time (${field})`);
  figures.database = (yield* readStr(intSize, 'the database name')) ?? '';
  figures.serverVersion = (yield* readStr(intSize, 'the server version')) ?? '';
  figures.pgDumpVersion = (yield* readStr(intSize, 'the pg_dump version')) ?? '';

  const tocCount = yield* readInt('the TOC entry count');
  if (tocCount < 0) throw new FormatError(`TOC entry count ${tocCount} is negative: corrupt header`);
  figures.tocEntries = tocCount;
  let tables = 0;
  let partitioned = 0;
  let tableData = 0;
  for (let index = 0; index < tocCount; index++) {
    const at = `TOC entry ${index + 1} of ${tocCount}`;
    const dumpId = yield* readInt(`${at}: dump ID`);
    if (dumpId <= 0) throw new FormatError(`${at}: dump ID ${dumpId} out of range: corrupt TOC`);
    yield* readInt(`${at}: had-dumper flag`);
    if (archiveVersion >= K_VERS_1_8) yield* readStr(intSize, `${at}: table OID`, false);
    yield* readStr(intSize, `${at}: OID`, false);
    const tag = (yield* readStr(intSize, `${at}: tag`)) ?? '';
    const desc = (yield* readStr(intSize, `${at}: description`)) ?? '';
    if (archiveVersion >= K_VERS_1_11) yield* readInt(`${at}: section`);
    const defn = (yield* readStr(intSize, `${at}: definition`, desc === 'TABLE')) ?? '';
    yield* readStr(intSize, `${at}: drop statement`, false);
    yield* readStr(intSize, `${at}: copy statement`, false);
    const namespace = (yield* readStr(intSize, `${at}: schema`)) ?? '';
    if (archiveVersion >= K_VERS_1_10) yield* readStr(intSize, `${at}: tablespace`, false);
    if (archiveVersion >= K_VERS_1_14) yield* readStr(intSize, `${at}: table access method`, false);
    let relkind = 0;
    if (archiveVersion >= K_VERS_1_16) relkind = yield* readInt(`${at}: relation kind`);
    yield* readStr(intSize, `${at}: owner`, false);
    if (archiveVersion >= K_VERS_1_9) yield* readStr(intSize, `${at}: with-OIDs flag`, false);
    for (let dep = 0; ; dep++) {
      const dependency = yield* readStr(intSize, `${at}: dependency ${dep + 1}`);
      if (dependency === null) break;
    }
    // pg_backup_custom.c _ReadExtraToc: where the entry's data is (flag byte, then offSize bytes).
    const offset = yield bytes(1 + offSize, `${at}: data offset`);
    const flag = offset?.[0] ?? 0;
    if (flag !== K_OFFSET_POS_NOT_SET && flag !== K_OFFSET_POS_SET && flag !== K_OFFSET_NO_DATA) {
      throw new FormatError(`${at}: data offset flag ${flag} is not 1, 2 or 3: corrupt TOC`);
    }
    if (desc === 'TABLE') {
      tables++;
      if (relkind === 112 /* 'p' */ || /\)\s*PARTITION BY /.test(defn)) partitioned++;
    }
    if (desc === 'TABLE DATA') tableData++;
    toc.push({ dumpId, desc, name: namespace ? `${namespace}.${tag}` : tag, expectsData: flag !== K_OFFSET_NO_DATA });
  }
  figures.tables = tables;
  figures.partitionedTables = partitioned;
  figures.tableDataEntries = tableData;

  // Data blocks follow the TOC in dump order until the end of the archive.
  const pending = new Map(toc.filter((entry) => entry.expectsData).map((entry) => [entry.dumpId, entry]));
  const byId = new Map(toc.map((entry) => [entry.dumpId, entry]));
  let blocks = 0;
  let dataBytes = 0;
  for (;;) {
    const type = yield bytesOrEnd(1, 'the next data block type');
    if (type === undefined) break;
    const blockType = type[0];
    if (blockType !== BLK_DATA && blockType !== BLK_BLOBS) {
      throw new FormatError(`data block ${blocks + 1}: type ${blockType} is neither table data (1) nor large objects (3): corrupt data section`);
    }
    const dumpId = yield* readInt(`data block ${blocks + 1}: dump ID`);
    const entry = byId.get(dumpId);
    if (!entry) throw new FormatError(`data block ${blocks + 1}: dump ID ${dumpId} is not in the TOC: corrupt data section`);
    pending.delete(dumpId);
    const what = `data of ${entry.desc} ${entry.name}`;
    const readChunks = function* (label: string): Generator<PullRequest, void, Buffer | undefined> {
      for (;;) {
        const length = yield* readRawInt(intSize, `chunk length in ${label}`);
        if (length === 0) return;
        if (length < 0) throw new FormatError(`${label}: negative chunk length ${length}: corrupt data`);
        dataBytes += length;
        yield skip(length, label);
      }
    };
    if (blockType === BLK_DATA) {
      yield* readChunks(what);
    } else {
      for (;;) {
        const oid = yield* readInt(`large object OID in ${what}`);
        if (oid === 0) break;
        yield* readChunks(`large object ${oid} in ${what}`);
      }
    }
    blocks++;
  }
  figures.dataBlocks = blocks;
  figures.dataBytes = dataBytes;
  if (pending.size > 0) {
    const names = [...pending.values()].slice(0, 5).map((entry) => `${entry.desc} ${entry.name}`);
    throw new FormatError(`${pending.size} TOC entr${pending.size === 1 ? 'y has' : 'ies have'} no data block (${names.join(', ')}${pending.size > 5 ? ', ...' : ''}): the archive is incomplete`);
  }
}

export class PgCustomInspector implements FormatInspector {
  private readonly figures: Partial<PgArchiveFigures> = {};
  private readonly toc: TocEntryInfo[] = [];
  private readonly driver: PullDriver;

  constructor(private readonly manifest?: Pick<BackupManifest, 'database'>) {
    this.driver = new PullDriver(pgCustomParser(this.figures, this.toc));
  }

  write(chunk: Buffer): void {
    this.driver.write(chunk);
  }

  async finish(): Promise<FormatReport> {
    const problems: string[] = [];
    const problem = this.driver.end();
    if (problem) problems.push(`PostgreSQL archive: ${problem}`);
    const expectedTables = this.manifest?.database?.tableCount;
    const { tableDataEntries, partitionedTables = 0 } = this.figures;
    // Partitioned parents carry no data of their own; their partitions each have a TABLE DATA entry.
    if (!problem && expectedTables !== undefined && tableDataEntries !== undefined && tableDataEntries < expectedTables - partitionedTables) {
      problems.push(
        `PostgreSQL archive: ${tableDataEntries} TABLE DATA entries but the manifest counted ${expectedTables} tables (${partitionedTables} partitioned): tables are missing from the dump`,
      );
    }
    this.toc.length = 0;
    return { format: 'pg_custom', problems, skipped: [], figures: { ...this.figures } };
  }
}
