/**
 * Reading the zip archive that `torch.save` writes (a folder of records: `data.pkl`, `data/<key>` storages,
 * `version`, all stored uncompressed; ZIP64 once the file passes 4 GB).
 *
 * Why an own reader rather than fflate's `unzip`: fflate needs the whole archive in one buffer and copies
 * every stored entry out of it (a 0.9 GB checkpoint would be held twice), and it trusts the directory's
 * offsets. Here only the central directory is parsed up front, from a random-access `ByteSource`; each
 * record is read on demand, every size and offset is checked against the file before use, and stored
 * records are checked against their CRC-32. fflate is still used where it fits: inflating a record that a
 * re-zipping tool compressed (torch itself never compresses).
 */
import { inflateSync } from 'fflate';
import { crc32Update } from './crc32';
import { PthError } from './errors';
import type { ByteSource } from './source';

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
/** A checkpoint has a few records per tensor; far more entries than this is not a checkpoint. */
export const MAX_ZIP_ENTRIES = 1_000_000;
/** Largest record inflated in memory (a compressed record is a re-zipped pickle, never a big storage). */
export const MAX_INFLATED_BYTES = 512 * 1024 * 1024;

/** Bytes at or above 2^53 cannot be addressed; anything that large is corrupt rather than real. */
function u64(view: DataView, offset: number): number {
  const value = view.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) return Number.POSITIVE_INFINITY;
  return Number(value);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Where the central directory is and how many entries it has. */
async function findDirectory(source: ByteSource): Promise<{ offset: number; size: number; count: number }> {
  const file = source.name;
  if (source.size < EOCD_SIZE)
    throw new PthError(`${file} is not a zip archive: it has only ${source.size} bytes.`);
  const tailLength = Math.min(source.size, EOCD_SIZE + MAX_COMMENT);
  const tailStart = source.size - tailLength;
  const tail = await source.read(tailStart, tailLength);
  const view = viewOf(tail);
  let at = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (
      view.getUint32(i, true) === EOCD_SIGNATURE &&
      view.getUint16(i + 20, true) === tail.length - i - EOCD_SIZE
    ) {
      at = i;
      break;
    }
  }
  if (at < 0)
    throw new PthError(
      `${file} has no zip end-of-directory record: it is truncated or not a zip archive (PyTorch checkpoints since 1.6 are zip archives).`,
    );
  let count = view.getUint16(at + 10, true);
  let size = view.getUint32(at + 12, true);
  let offset = view.getUint32(at + 16, true);
  const needs64 = count === 0xffff || size === 0xffffffff || offset === 0xffffffff;
  const locatorAt = at - 20;
  if (locatorAt >= 0 && view.getUint32(locatorAt, true) === ZIP64_LOCATOR_SIGNATURE) {
    const zip64At = u64(view, locatorAt + 8);
    if (!(zip64At + 56 <= tailStart + locatorAt))
      throw new PthError(
        `${file} has a ZIP64 directory pointer (${zip64At}) outside the file; it is corrupt.`,
      );
    const record = viewOf(await source.read(zip64At, 56));
    if (record.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE)
      throw new PthError(
        `${file} has a ZIP64 directory pointer that leads to no ZIP64 record; it is corrupt.`,
      );
    count = u64(record, 32);
    size = u64(record, 40);
    offset = u64(record, 48);
  } else if (needs64) {
    throw new PthError(`${file} needs a ZIP64 directory record but has none; it is corrupt.`);
  }
  if (count > MAX_ZIP_ENTRIES)
    throw new PthError(
      `${file} declares ${count} zip entries, more than any checkpoint has (${MAX_ZIP_ENTRIES}).`,
    );
  if (!(offset + size <= source.size))
    throw new PthError(
      `${file} has a central directory (bytes ${offset}..${offset + size}) that lies past its end (${source.size} bytes); it is truncated or corrupt.`,
    );
  return { offset, size, count };
}

/** Reads the central directory: every entry's name, method, sizes and local-header offset, all checked. */
export async function readZipDirectory(source: ByteSource): Promise<ZipEntry[]> {
  const file = source.name;
  const dir = await findDirectory(source);
  const bytes = await source.read(dir.offset, dir.size);
  const view = viewOf(bytes);
  const names = new TextDecoder('utf-8', { fatal: true });
  const entries: ZipEntry[] = [];
  const seen = new Set<string>();
  let at = 0;
  for (let i = 0; i < dir.count; i++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== CENTRAL_SIGNATURE)
      throw new PthError(
        `${file}: zip directory entry ${i} of ${dir.count} is missing or damaged; the file is corrupt.`,
      );
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localHeaderOffset = view.getUint32(at + 42, true);
    const end = at + 46 + nameLength + extraLength + commentLength;
    if (end > bytes.length)
      throw new PthError(`${file}: zip directory entry ${i} runs past the directory; the file is corrupt.`);
    if (flags & 1) throw new PthError(`${file} holds encrypted zip entries; PyTorch never writes those.`);
    let name: string;
    try {
      name = names.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    } catch {
      throw new PthError(`${file}: zip entry ${i} has a name that is not UTF-8; the file is corrupt.`);
    }
    // ZIP64 extended information: the 8-byte values replace, in this order, those saturated at 0xffffffff.
    const extraEnd = at + 46 + nameLength + extraLength;
    for (let e = at + 46 + nameLength; e + 4 <= extraEnd; ) {
      const id = view.getUint16(e, true);
      const length = view.getUint16(e + 2, true);
      if (e + 4 + length > extraEnd)
        throw new PthError(`${file}: zip entry "${name}" has a damaged extra field; the file is corrupt.`);
      if (id === 1) {
        let p = e + 4;
        const take = (): number => {
          if (p + 8 > e + 4 + length)
            throw new PthError(`${file}: zip entry "${name}" has a short ZIP64 field; the file is corrupt.`);
          const value = u64(view, p);
          p += 8;
          return value;
        };
        if (size === 0xffffffff) size = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
      }
      e += 4 + length;
    }
    if (method !== 0 && method !== 8)
      throw new PthError(
        `${file}: zip entry "${name}" uses compression method ${method}; only stored (0) and deflated (8) entries are read.`,
      );
    if (method === 0 && compressedSize !== size)
      throw new PthError(
        `${file}: stored zip entry "${name}" declares ${compressedSize} bytes on disk but ${size} bytes of content; the file is corrupt.`,
      );
    if (!(localHeaderOffset + 30 + compressedSize <= dir.offset))
      throw new PthError(
        `${file}: zip entry "${name}" (${compressedSize} bytes at ${localHeaderOffset}) does not fit before the directory; the file is truncated or corrupt.`,
      );
    if (seen.has(name))
      throw new PthError(`${file} holds the zip entry "${name}" twice; the file is corrupt.`);
    seen.add(name);
    entries.push({ name, method, crc, compressedSize, size, localHeaderOffset });
    at = end;
  }
  return entries;
}

/** Offset of an entry's data: after its local header, whose name and extra lengths may differ from the directory's. */
async function dataOffset(source: ByteSource, entry: ZipEntry): Promise<number> {
  const header = viewOf(await source.read(entry.localHeaderOffset, 30));
  if (header.getUint32(0, true) !== LOCAL_SIGNATURE)
    throw new PthError(
      `${source.name}: zip entry "${entry.name}" has no local header at byte ${entry.localHeaderOffset}; the file is corrupt.`,
    );
  const start = entry.localHeaderOffset + 30 + header.getUint16(26, true) + header.getUint16(28, true);
  if (start + entry.compressedSize > source.size)
    throw new PthError(
      `${source.name} is truncated: zip entry "${entry.name}" needs bytes ${start}..${start + entry.compressedSize} of ${source.size}.`,
    );
  return start;
}

/** The content of one entry, CRC-checked. `limit` refuses entries larger than the caller can use. */
export async function readZipEntry(source: ByteSource, entry: ZipEntry): Promise<Uint8Array> {
  const start = await dataOffset(source, entry);
  const raw = await source.read(start, entry.compressedSize);
  let content: Uint8Array;
  if (entry.method === 0) content = raw;
  else {
    if (entry.size > MAX_INFLATED_BYTES)
      throw new PthError(
        `${source.name}: compressed zip entry "${entry.name}" would inflate to ${entry.size} bytes, more than the ${MAX_INFLATED_BYTES} read this way; re-save the file with torch.save, which stores records uncompressed.`,
      );
    try {
      content = inflateSync(raw, { out: new Uint8Array(entry.size) });
    } catch (error) {
      throw new PthError(
        `${source.name}: compressed zip entry "${entry.name}" cannot be inflated (${(error as Error).message}); the file is corrupt.`,
      );
    }
    if (content.length !== entry.size)
      throw new PthError(
        `${source.name}: compressed zip entry "${entry.name}" inflates to ${content.length} bytes, not the declared ${entry.size}; the file is corrupt.`,
      );
  }
  if (crc32Update(0, content) !== entry.crc)
    throw new PthError(
      `${source.name}: zip entry "${entry.name}" fails its CRC-32 check; the file was damaged after it was written.`,
    );
  return content;
}
