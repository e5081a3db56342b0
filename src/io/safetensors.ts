/**
 * Safetensors reader and writer (https://github.com/huggingface/safetensors, format described in its README):
 *
 *   [u64 little-endian N] [N bytes of JSON header] [data section]
 *
 * The header maps tensor names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data
 * section) plus an optional `__metadata__` object of string → string. The reader trusts nothing: files come
 * from users (checkpoints dropped into the browser), so every size and offset is checked before any tensor
 * is built, and a malformed file throws a `SafetensorsError` whose message is a sentence a user can act on.
 * The header is parsed once and checked first (`parseSafetensorsHeader` needs only the first bytes of a
 * file, so a caller can refuse a file before reading all of it); tensors are then decoded lazily as views
 * into the one buffer (`openSafetensors`). Reading never touches existing state, so a failed load changes
 * nothing.
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

/**
 * Caps on what a header may ask for, checked before the JSON is parsed where possible. The official
 * implementation refuses headers above 100 MB; ours are a few hundred KB at most (a few thousand tensors with
 * the optimiser moments), so the defaults leave room for big official-architecture files and still refuse a
 * header of a million empty tensors before it costs seconds and hundreds of MiB.
 */
export interface SafetensorsLimits {
  maxHeaderBytes: number;
  maxTensors: number;
  /** Dimensions per tensor; real tensors have at most 5. */
  maxRank: number;
}

export const DEFAULT_SAFETENSORS_LIMITS: SafetensorsLimits = {
  maxHeaderBytes: 8 * 2 ** 20,
  maxTensors: 20_000,
  maxRank: 16,
};

/** Kept for callers of the old constant: the default header cap. */
export const MAX_HEADER_BYTES = DEFAULT_SAFETENSORS_LIMITS.maxHeaderBytes;

/** Where one tensor lies; offsets are relative to the data section, as in the header. */
export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** A validated header: everything about the file except the tensor values. */
export interface SafetensorsHeader {
  /** In the order of their data offsets. */
  tensors: Map<string, TensorInfo>;
  /** A prototype-free object, so a key like "constructor" is only ever what the file says. */
  metadata: Record<string, string>;
  /** Byte offset of the data section in the file (8 + header length). */
  dataStart: number;
  /** Size of the whole file. */
  fileBytes: number;
}

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

/**
 * A typed array of `bytes` (little-endian on disk; every platform that runs WebGPU is little-endian): a view
 * sharing the file's buffer when the bytes are aligned for the element type, else an aligned copy.
 */
function typedView(dtype: SafetensorsDtype, bytes: Uint8Array, count: number, copy: boolean): TensorData {
  const aligned = bytes.byteOffset % DTYPE_BYTES[dtype] === 0;
  if (!copy && aligned) return new DTYPE_ARRAY[dtype](bytes.buffer as ArrayBuffer, bytes.byteOffset, count);
  return new DTYPE_ARRAY[dtype](bytes.slice().buffer, 0, count);
}

function describeFile(name: string | undefined): string {
  return name ? `"${name}"` : 'the file';
}

function plainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Occurrences of `needle` in `haystack` (a cheap upper bound on the tensor count before JSON.parse). */
function countOccurrences(haystack: Uint8Array, needle: Uint8Array): number {
  let count = 0;
  const first = needle[0];
  let at = haystack.indexOf(first);
  while (at >= 0 && at + needle.length <= haystack.length) {
    let match = true;
    for (let k = 1; k < needle.length; k++) {
      if (haystack[at + k] !== needle[k]) {
        match = false;
        break;
      }
    }
    if (match) count++;
    at = haystack.indexOf(first, at + 1);
  }
  return count;
}

const DATA_OFFSETS_KEY = new TextEncoder().encode('data_offsets');

/**
 * The header length from the first 8 bytes of a file of `fileBytes` bytes, checked against the file size and
 * the cap: callers that read files piece by piece read exactly this many bytes more, then parse the header.
 */
export function safetensorsHeaderLength(
  first8: Uint8Array,
  fileBytes: number,
  fileName?: string,
  limits: SafetensorsLimits = DEFAULT_SAFETENSORS_LIMITS,
): number {
  const file = describeFile(fileName);
  if (fileBytes < 8 || first8.byteLength < 8) {
    throw new SafetensorsError(
      `${file} is not a safetensors file: it has ${fileBytes} bytes, fewer than the 8-byte header length.`,
    );
  }
  const headerLength = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (headerLength < 2n || headerLength > BigInt(limits.maxHeaderBytes)) {
    throw new SafetensorsError(
      `${file} is not a safetensors file SparkLab can read: its header length ${headerLength} is outside the accepted range 2..${limits.maxHeaderBytes} bytes.`,
    );
  }
  const n = Number(headerLength);
  if (8 + n > fileBytes) {
    throw new SafetensorsError(
      `${file} is truncated: its header claims ${n} bytes but only ${fileBytes - 8} follow the length field.`,
    );
  }
  return n;
}

/**
 * Parses and validates the header of a file of `fileBytes` bytes from its first bytes (`prefix` must hold at
 * least the length field and the header; the tensor data need not have been read). Throws SafetensorsError
 * if anything is inconsistent: the header length, the JSON, an unknown dtype, a bad shape, offsets outside
 * the data section or not matching shape × dtype size, overlapping tensors, bytes of the data section that no
 * tensor owns, or more tensors, dimensions or header bytes than the limits allow.
 */
export function parseSafetensorsHeader(
  prefix: Uint8Array,
  fileBytes: number,
  fileName?: string,
  limits: SafetensorsLimits = DEFAULT_SAFETENSORS_LIMITS,
): SafetensorsHeader {
  const file = describeFile(fileName);
  const n = safetensorsHeaderLength(prefix, fileBytes, fileName, limits);
  if (prefix.byteLength < 8 + n) {
    throw new SafetensorsError(`${file}: only ${prefix.byteLength} of its ${8 + n} header bytes were given.`);
  }
  const headerBytes = prefix.subarray(8, 8 + n);
  // Each tensor entry names "data_offsets" once; counting the key bounds the work JSON.parse would do.
  const declared = countOccurrences(headerBytes, DATA_OFFSETS_KEY);
  if (declared > limits.maxTensors) {
    throw new SafetensorsError(
      `${file} declares about ${declared} tensors, more than the ${limits.maxTensors} SparkLab accepts; it is not a model file.`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    throw new SafetensorsError(
      `${file} has a header that is not valid UTF-8 JSON (${(error as Error).message}).`,
    );
  }
  if (!plainObject(header)) {
    throw new SafetensorsError(`${file} has a header that is not a JSON object.`);
  }
  const dataStart = 8 + n;
  const dataLength = fileBytes - dataStart;

  const metadata: Record<string, string> = Object.create(null);
  const entries: TensorInfo[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!plainObject(raw)) {
        throw new SafetensorsError(`${file} has a __metadata__ entry that is not an object of strings.`);
      }
      for (const [key, value] of Object.entries(raw)) {
        if (typeof value !== 'string') {
          throw new SafetensorsError(`${file} has metadata "${key}" that is not a string.`);
        }
        metadata[key] = value;
      }
      continue;
    }
    if (entries.length >= limits.maxTensors) {
      throw new SafetensorsError(
        `${file} has more than ${limits.maxTensors} tensors, more than SparkLab accepts; it is not a model file.`,
      );
    }
    if (!plainObject(raw)) {
      throw new SafetensorsError(`${file}: tensor "${name}" is not described by an object.`);
    }
    const dtype = raw.dtype;
    if (!isDtype(dtype)) {
      throw new SafetensorsError(
        `${file}: tensor "${name}" has unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(', ')}).`,
      );
    }
    const shape = raw.shape;
    if (
      !Array.isArray(shape) ||
      !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)
    ) {
      throw new SafetensorsError(
        `${file}: tensor "${name}" has shape ${JSON.stringify(shape)}, which is not a list of non-negative integers.`,
      );
    }
    if (shape.length > limits.maxRank) {
      throw new SafetensorsError(
        `${file}: tensor "${name}" has ${shape.length} dimensions, more than the ${limits.maxRank} accepted.`,
      );
    }
    const offsets = raw.data_offsets;
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
    // A product past 2^53 is inexact, but it is then also far above any data section, so the check holds.
    const expectedBytes = elementsOf(shape) * DTYPE_BYTES[dtype];
    if (end - begin !== expectedBytes) {
      throw new SafetensorsError(
        `${file}: tensor "${name}" (${dtype} [${shape.join(', ')}]) needs ${expectedBytes} bytes but its data_offsets span ${end - begin}.`,
      );
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
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
  return { tensors: new Map(entries.map((e) => [e.name, e])), metadata, dataStart, fileBytes };
}

/**
 * A parsed file whose tensors are decoded only when asked for, as views into the one buffer of the file
 * (copies only where the bytes are not aligned for their type). Parse once with `openSafetensors`, check the
 * header (`header.tensors`: names, dtypes, shapes) against the model, then take the tensors needed.
 */
export class SafetensorsReader {
  constructor(
    readonly bytes: Uint8Array,
    readonly header: SafetensorsHeader,
    readonly fileName?: string,
  ) {}

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  names(): string[] {
    return [...this.header.tensors.keys()];
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  info(name: string): TensorInfo | undefined {
    return this.header.tensors.get(name);
  }

  /** The tensor as a view into the file's buffer (valid while the caller keeps `bytes` unchanged). */
  tensor(name: string, options: { copy?: boolean } = {}): SafeTensor | undefined {
    const info = this.header.tensors.get(name);
    if (!info) return undefined;
    const start = this.header.dataStart;
    const slice = this.bytes.subarray(start + info.begin, start + info.end);
    return {
      dtype: info.dtype,
      shape: [...info.shape],
      data: typedView(info.dtype, slice, elementsOf(info.shape), options.copy ?? false),
    };
  }
}

/** Parses the header of a whole file held in memory (validated as `parseSafetensorsHeader` does). */
export function openSafetensors(
  bytes: Uint8Array,
  fileName?: string,
  limits: SafetensorsLimits = DEFAULT_SAFETENSORS_LIMITS,
): SafetensorsReader {
  return new SafetensorsReader(
    bytes,
    parseSafetensorsHeader(bytes, bytes.byteLength, fileName, limits),
    fileName,
  );
}

/**
 * Parses a whole safetensors file and copies every tensor out (for small files and tools; loading a model
 * uses `openSafetensors`, which decodes lazily). Throws `SafetensorsError`, and returns nothing, if anything
 * is inconsistent (see `parseSafetensorsHeader`). The result shares nothing with `bytes`.
 */
export function readSafetensors(
  bytes: Uint8Array,
  fileName?: string,
  limits: SafetensorsLimits = DEFAULT_SAFETENSORS_LIMITS,
): SafetensorsFile {
  const reader = openSafetensors(bytes, fileName, limits);
  const tensors = new Map<string, SafeTensor>();
  for (const name of reader.names()) tensors.set(name, reader.tensor(name, { copy: true })!);
  return { tensors, metadata: reader.metadata };
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
