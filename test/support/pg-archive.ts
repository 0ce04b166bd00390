/**
 * Builds PostgreSQL custom-format archives (`pg_dump -Fc -Z0`, archive version 1.14 as
 * PostgreSQL 15 writes it) byte by byte: `n` tables, each with a TABLE and a TABLE DATA entry,
 * and data blocks of length-prefixed chunks. For the verifier's tests and its benchmark, where a
 * real pg_dump cannot make the shape wanted (rows of a chosen length, gigabytes of them).
 */

/** An archive int: a sign byte and 4 little-endian bytes. */
export function archiveInt(value: number): Buffer {
  const buffer = Buffer.alloc(5);
  buffer[0] = value < 0 ? 1 : 0;
  buffer.writeUInt32LE(Math.abs(value), 1);
  return buffer;
}

function archiveStr(value: string | null): Buffer {
  if (value === null) return archiveInt(-1);
  const bytes = Buffer.from(value, 'utf8');
  return Buffer.concat([archiveInt(bytes.length), bytes]);
}

/** Header and TOC of an archive of `tables` tables `public.t<i>`; table i's data is dump ID 2 + 2i. */
export function archiveHead(tables: number): Buffer {
  const parts: Buffer[] = [Buffer.from('PGDMP'), Buffer.from([1, 14, 0, 4, 8, 1]), archiveInt(0)];
  for (const value of [0, 0, 5, 10, 2, 126, 0]) parts.push(archiveInt(value));
  parts.push(archiveStr('bench'), archiveStr('15.18'), archiveStr('15.18'), archiveInt(tables * 2));
  for (let table = 0; table < tables; table++) {
    const entry = (dumpId: number, desc: string, hasData: boolean, deps: number[]) => {
      parts.push(archiveInt(dumpId), archiveInt(hasData ? 1 : 0), archiveStr('1259'), archiveStr(String(16384 + table)), archiveStr(`t${table}`), archiveStr(desc), archiveInt(hasData ? 3 : 2));
      parts.push(archiveStr(desc === 'TABLE' ? `CREATE TABLE public.t${table} (id bigint, body text);` : ''), archiveStr(''), archiveStr(hasData ? `COPY public.t${table} (id, body) FROM stdin;\n` : null));
      parts.push(archiveStr('public'), archiveStr(''), archiveStr('heap'), archiveStr('bench'), archiveStr('false'));
      for (const dep of deps) parts.push(archiveStr(String(dep)));
      parts.push(archiveStr(null), Buffer.from([hasData ? 1 : 3]), Buffer.alloc(8));
    };
    entry(1 + table * 2, 'TABLE', false, []);
    entry(2 + table * 2, 'TABLE DATA', true, [1 + table * 2]);
  }
  return Buffer.concat(parts);
}

/** The start of table `table`'s data block: block type 1 and its dump ID. */
export function dataBlockStart(table: number): Buffer {
  return Buffer.concat([Buffer.from([1]), archiveInt(2 + table * 2)]);
}

/** The chunk of length 0 that ends a data block. */
export const DATA_BLOCK_END = archiveInt(0);

/** A whole archive: per table, its chunks (each a COPY row, or any bytes) and the block end. */
export function pgArchive(tables: readonly (readonly Buffer[])[]): Buffer {
  const parts: Buffer[] = [archiveHead(tables.length)];
  tables.forEach((chunks, table) => {
    parts.push(dataBlockStart(table));
    for (const chunk of chunks) parts.push(archiveInt(chunk.length), chunk);
    parts.push(DATA_BLOCK_END);
  });
  return Buffer.concat(parts);
}
