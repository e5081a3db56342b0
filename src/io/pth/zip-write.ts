/**
 * Writing the zip archive of a `.pth` the way `torch.save` lays it out: stored (uncompressed) records in one
 * folder, each record's data aligned to 64 bytes by padding the local header's extra field (PyTorch memory-maps
 * storages at aligned addresses), CRC-32 in the local header and the directory, and the ZIP64 end records that
 * PyTorch's reader accepts. Sizes and offsets of 4 GiB and more go into ZIP64 extra fields.
 *
 * The archive comes out as a list of chunks that reference the record data rather than copy it, so a caller
 * can stream them to disk (Node) or wrap them in a `Blob` (the page) without building one huge array.
 */
import { crc32 } from './crc32';
import { PthError } from './errors';

export interface ZipRecord {
  name: string;
  data: Uint8Array;
}

export interface ZipWriteOptions {
  /** Values at or above this go into ZIP64 fields; lowered only by tests to exercise those fields. */
  zip64Threshold?: number;
}

const ALIGN = 64;
const PADDING_ID = 0x4246; // 'FB', the id PyTorch's writer uses for its alignment padding
const U32_MAX = 0xffffffff;

function header(size: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(size);
  return { bytes, view: new DataView(bytes.buffer) };
}

function zip64Field(values: number[]): Uint8Array {
  const { bytes, view } = header(4 + 8 * values.length);
  view.setUint16(0, 1, true);
  view.setUint16(2, 8 * values.length, true);
  values.forEach((v, i) => {
    view.setBigUint64(4 + 8 * i, BigInt(v), true);
  });
  return bytes;
}

export function writeZip(records: readonly ZipRecord[], options: ZipWriteOptions = {}): Uint8Array[] {
  const threshold = options.zip64Threshold ?? U32_MAX;
  const encoder = new TextEncoder();
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const names = new Set<string>();
  for (const record of records) {
    if (names.has(record.name)) throw new PthError(`Cannot write the record ${record.name} twice.`);
    names.add(record.name);
    const name = encoder.encode(record.name);
    const crc = crc32(record.data);
    const size = record.data.byteLength;
    const local64 = size >= threshold ? zip64Field([size, size]) : new Uint8Array(0);
    const fixed = 30 + name.length + local64.length + 4;
    const pad = (ALIGN - ((offset + fixed) % ALIGN)) % ALIGN;
    const local = header(fixed + pad);
    local.view.setUint32(0, 0x04034b50, true);
    local.view.setUint16(4, local64.length ? 45 : 20, true);
    local.view.setUint16(8, 0, true); // stored
    local.view.setUint32(14, crc, true);
    local.view.setUint32(18, local64.length ? U32_MAX : size, true);
    local.view.setUint32(22, local64.length ? U32_MAX : size, true);
    local.view.setUint16(26, name.length, true);
    local.view.setUint16(28, local64.length + 4 + pad, true);
    local.bytes.set(name, 30);
    local.bytes.set(local64, 30 + name.length);
    const padAt = 30 + name.length + local64.length;
    local.view.setUint16(padAt, PADDING_ID, true);
    local.view.setUint16(padAt + 2, pad, true);
    local.bytes.fill(0x5a, padAt + 4); // 'Z', as PyTorch pads
    chunks.push(local.bytes, record.data);

    const big = [
      size >= threshold ? size : -1,
      size >= threshold ? size : -1,
      offset >= threshold ? offset : -1,
    ].filter((v) => v >= 0);
    const central64 = big.length ? zip64Field(big) : new Uint8Array(0);
    const entry = header(46 + name.length + central64.length);
    entry.view.setUint32(0, 0x02014b50, true);
    entry.view.setUint16(4, central64.length ? 45 : 20, true);
    entry.view.setUint16(6, central64.length ? 45 : 20, true);
    entry.view.setUint32(16, crc, true);
    entry.view.setUint32(20, size >= threshold ? U32_MAX : size, true);
    entry.view.setUint32(24, size >= threshold ? U32_MAX : size, true);
    entry.view.setUint16(28, name.length, true);
    entry.view.setUint16(30, central64.length, true);
    entry.view.setUint32(42, offset >= threshold ? U32_MAX : offset, true);
    entry.bytes.set(name, 46);
    entry.bytes.set(central64, 46 + name.length);
    central.push(entry.bytes);
    offset += local.bytes.length + size;
  }
  const directoryOffset = offset;
  const directorySize = central.reduce((n, c) => n + c.length, 0);
  chunks.push(...central);
  const zip64End = header(56 + 20);
  const z = zip64End.view;
  z.setUint32(0, 0x06064b50, true);
  z.setBigUint64(4, 44n, true);
  z.setUint16(12, 45, true);
  z.setUint16(14, 45, true);
  z.setBigUint64(24, BigInt(records.length), true);
  z.setBigUint64(32, BigInt(records.length), true);
  z.setBigUint64(40, BigInt(directorySize), true);
  z.setBigUint64(48, BigInt(directoryOffset), true);
  // Locator: where the ZIP64 end record starts.
  z.setUint32(56, 0x07064b50, true);
  z.setBigUint64(56 + 8, BigInt(directoryOffset + directorySize), true);
  z.setUint32(56 + 16, 1, true);
  const end = header(22);
  end.view.setUint32(0, 0x06054b50, true);
  end.view.setUint16(8, Math.min(records.length, 0xffff), true);
  end.view.setUint16(10, Math.min(records.length, 0xffff), true);
  end.view.setUint32(12, directorySize >= threshold ? U32_MAX : directorySize, true);
  end.view.setUint32(16, directoryOffset >= threshold ? U32_MAX : directoryOffset, true);
  chunks.push(zip64End.bytes, end.bytes);
  return chunks;
}

/** One array from chunks (for small archives and tests). */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
