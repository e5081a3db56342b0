/**
 * Safetensors reader and writer (https://github.com/huggingface/safetensors, format described in its README):
 *
 *   [u64 little-endian N] [N bytes of JSON header] [data section]
 *
 * The header maps tensor names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data
 * section) plus an optional `__metadata__` object of string → string. The reader trusts nothing: files come
 * from users (checkpoints dropped into the browser), so every size and offset is checked before any tensor
 * is built, and a malformed file throws a `SafetensorsError` whose message is a sentence a user can act on.
 * Reading is pure: it returns new arrays and never touches existing state, so a failed load changes nothing.
 */

export type SafetensorsDtype =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL';

export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** The typed array each dtype is read into (F16/BF16 stay raw 16-bit words; use `toFloat64Array`). */
export type TensorData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint32Array
  | Uint16Array
  | Uint8Array;

export interface SafeTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: TensorData;
}

export interface SafetensorsFile {
  /** Tensors in the order of their data offsets. */
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** The official implementation refuses headers above 100 MB; a real header is a few hundred KB at most. */
export const MAX_HEADER_BYTES = 100_000_000;

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(DTYPE_BYTES, value);
}

function elementsOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The typed array each dtype is read into (F16/BF16 as raw 16-bit words, BOOL as bytes). */
const DTYPE_ARRAY: Readonly<
  Record<SafetensorsDtype, new (buffer: ArrayBuffer, byteOffset: number, length: number) => TensorData>
> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U64: BigUint64Array,
  U32: Uint32Array,
  U16: Uint16Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

/** Copies `bytes` into a fresh (aligned) typed array of the dtype; the data is little-endian on disk. */
function decode(dtype: SafetensorsDtype, bytes: Uint8Array, count: number): TensorData {
  // Every platform that runs WebGPU is little-endian, so a typed-array view of the copy is the decoded data.
  return new DTYPE_ARRAY[dtype](bytes.slice().buffer, 0, count);
}

function describeFile(name: string | undefined): string {
  return name ? `"${name}"` : 'the file';
}

/**
 * Parses a safetensors file. Throws `SafetensorsError` (and returns nothing) if anything is inconsistent:
 * the header length, the JSON, an unknown dtype, a bad shape, offsets outside the data section or not
 * matching shape × dtype size, overlapping tensors, or bytes of the data section that no tensor owns.
 */
export function readSafetensors(bytes: Uint8Array, fileName?: string): SafetensorsFile {
  const file = describeFile(fileName);
  if (bytes.byteLength < 8) {
    throw new SafetensorsError(
      `${file} is not a safetensors file: it has ${bytes.byteLength} bytes, fewer than the 8-byte header length.`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength < 2n || headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(
      `${file} is not a safetensors file: its header length ${headerLength} is outside the sane range 2..${MAX_HEADER_BYTES} bytes.`,
    );
  }
  const n = Number(headerLength);
  if (8 + n > bytes.byteLength) {
    throw new SafetensorsError(
      `${file} is truncated: its header claims ${n} bytes but only ${bytes.byteLength - 8} follow the length field.`,
    );
  }
  let header: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
    header = JSON.parse(text);
  } catch (error) {
    throw new SafetensorsError(
      `${file} has a header that is not valid UTF-8 JSON (${(error as Error).message}).`,
    );
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError(`${file} has a header that is not a JSON object.`);
  }
  const dataStart = 8 + n;
  const dataLength = bytes.byteLength - dataStart;

  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] =
    [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        throw new SafetensorsError(`${file} has a __metadata__ entry that is not an object of strings.`);
      }
      for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof value !== 'string') {
          throw new SafetensorsError(`${file} has metadata "${key}" that is not a string.`);
        }
        metadata[key] = value;
      }
      continue;
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new SafetensorsError(`${file}: tensor "${name}" is not described by an object.`);
    }
    const info = raw as Record<string, unknown>;
    if (!isDtype(info.dtype)) {
      throw new SafetensorsError(
        `${file}: tensor "${name}" has unknown dtype ${JSON.stringify(info.dtype)} (known: ${Object.keys(DTYPE_BYTES).join(', ')}).`,
      );
    }
    const shape = info.shape;
    if (
      !Array.isArray(shape) ||
      !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)
    ) {
      throw new SafetensorsError(
        `${file}: tensor "${name}" has shape ${JSON.stringify(shape)}, which is not a list of non-negative integers.`,
      );
    }
    const offsets = info.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
    ) {
      throw new SafetensorsError(
        `${file}: tensor "${name}" has data_offsets ${JSON.stringify(offsets)}, which is not a pair of non-negative integers.`,
      );
    }
    const [begin, end] = offsets as number[];
    if (begin > end || end > dataLength) {
      throw new SafetensorsError(
        `${file}: tensor "${name}" has data_offsets [${begin}, ${end}] outside the ${dataLength}-byte data section (the file may be truncated).`,
      );
    }
    const expectedBytes = elementsOf(shape) * DTYPE_BYTES[info.dtype];
    if (end - begin !== expectedBytes) {
      throw new SafetensorsError(
        `${file}: tensor "${name}" (${info.dtype} [${shape.join(', ')}]) needs ${expectedBytes} bytes but its data_offsets span ${end - begin}.`,
      );
    }
    entries.push({ name, dtype: info.dtype, shape: shape as number[], begin, end });
  }

  // Ranges must tile the data section: no overlaps (two tensors sharing bytes) and no unowned bytes, as the
  // official implementation requires.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const entry of entries) {
    if (entry.begin < cursor) {
      throw new SafetensorsError(
        `${file}: tensor "${entry.name}" (bytes ${entry.begin}..${entry.end}) overlaps the previous tensor, which ends at byte ${cursor}.`,
      );
    }
    if (entry.begin > cursor) {
      throw new SafetensorsError(
        `${file}: bytes ${cursor}..${entry.begin} of the data section belong to no tensor; the file is malformed.`,
      );
    }
    cursor = entry.end;
  }
  if (cursor !== dataLength) {
    throw new SafetensorsError(
      `${file}: the data section has ${dataLength} bytes but its tensors cover only ${cursor}; the file is malformed.`,
    );
  }

  const tensors = new Map<string, SafeTensor>();
  for (const entry of entries) {
    const slice = bytes.subarray(dataStart + entry.begin, dataStart + entry.end);
    tensors.set(entry.name, {
      dtype: entry.dtype,
      shape: entry.shape,
      data: decode(entry.dtype, slice, elementsOf(entry.shape)),
    });
  }
  return { tensors, metadata };
}

export interface TensorToWrite {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  data: TensorData | ArrayLike<number>;
}

function encode(name: string, tensor: TensorToWrite): Uint8Array {
  const count = elementsOf(tensor.shape);
  if (tensor.data.length !== count) {
    throw new SafetensorsError(
      `cannot write tensor "${name}": shape [${tensor.shape.join(', ')}] has ${count} elements but ${tensor.data.length} values were given.`,
    );
  }
  const data = tensor.data;
  let typed: TensorData;
  switch (tensor.dtype) {
    case 'F64':
      typed = data instanceof Float64Array ? data : Float64Array.from(data as ArrayLike<number>);
      break;
    case 'F32':
      typed = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
      break;
    case 'I64':
      typed =
        data instanceof BigInt64Array
          ? data
          : BigInt64Array.from(Array.from(data as ArrayLike<number>, (v) => BigInt(Math.trunc(v))));
      break;
    case 'U64':
      typed =
        data instanceof BigUint64Array
          ? data
          : BigUint64Array.from(Array.from(data as ArrayLike<number>, (v) => BigInt(Math.trunc(v))));
      break;
    case 'I32':
      typed = data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>);
      break;
    case 'U32':
      typed = data instanceof Uint32Array ? data : Uint32Array.from(data as ArrayLike<number>);
      break;
    case 'I16':
      typed = data instanceof Int16Array ? data : Int16Array.from(data as ArrayLike<number>);
      break;
    case 'U16':
    case 'F16':
    case 'BF16':
      typed = data instanceof Uint16Array ? data : Uint16Array.from(data as ArrayLike<number>);
      break;
    case 'I8':
      typed = data instanceof Int8Array ? data : Int8Array.from(data as ArrayLike<number>);
      break;
    case 'U8':
    case 'BOOL':
      typed = data instanceof Uint8Array ? data : Uint8Array.from(data as ArrayLike<number>);
      break;
  }
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

/**
 * Serialises tensors (in the given order) and string metadata. The header is padded with spaces to a
 * multiple of 8 bytes so that every tensor starts 8-byte aligned when its predecessors are, as the official
 * writer does.
 */
export function writeSafetensors(
  tensors: Iterable<[string, TensorToWrite]>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of tensors) {
    if (name === '__metadata__') throw new SafetensorsError('a tensor cannot be named __metadata__.');
    if (Object.hasOwn(header, name)) throw new SafetensorsError(`tensor "${name}" is given twice.`);
    if (!isDtype(tensor.dtype))
      throw new SafetensorsError(`tensor "${name}" has unknown dtype ${tensor.dtype}.`);
    const bytes = encode(name, tensor);
    header[name] = {
      dtype: tensor.dtype,
      shape: [...tensor.shape],
      data_offsets: [offset, offset + bytes.length],
    };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(headerBytes.length / 8) * 8;
  if (padded !== headerBytes.length) {
    const withPadding = new Uint8Array(padded).fill(0x20);
    withPadding.set(headerBytes);
    headerBytes = withPadding;
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let cursor = 8 + headerBytes.length;
  for (const chunk of chunks) {
    out.set(chunk, cursor);
    cursor += chunk.length;
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Any numeric tensor as float64 (F16/BF16 decoded, 64-bit integers converted, exact below 2^53). */
export function toFloat64Array(tensor: SafeTensor): Float64Array {
  const out = new Float64Array(tensor.data.length);
  const data = tensor.data;
  if (tensor.dtype === 'F16') {
    for (let i = 0; i < out.length; i++) out[i] = halfToFloat(data[i] as number);
  } else if (tensor.dtype === 'BF16') {
    const word = new Uint32Array(1);
    const asFloat = new Float32Array(word.buffer);
    for (let i = 0; i < out.length; i++) {
      word[0] = (data[i] as number) << 16;
      out[i] = asFloat[0];
    }
  } else {
    for (let i = 0; i < out.length; i++) out[i] = Number(data[i]);
  }
  return out;
}
