/**
 * Reading a PyTorch `.pth` (the zip format of `torch.save` since PyTorch 1.6) without executing anything:
 * the zip directory (zip-read.ts), then the pickle under the restricted unpickler (pickle-read.ts), then
 * the storages the pickle names, one record at a time. `openPth` stops after the pickle, so a caller can
 * look at the structure (names, shapes) and load only the tensors it needs (`archive.load(refs)`); a 0.9 GB
 * checkpoint viewed without its optimizer state reads about a third of its bytes.
 *
 * Every size, offset and stride is checked against the storage it points into before a byte is copied; a
 * failure throws `PthError` with a sentence and leaves no partially loaded tensor behind.
 */
import { DTYPE_BYTES, type SafeTensor, type TensorData } from '../safetensors';
import { PthError } from './errors';
import { type PthDtype, type PyValue, type StorageRef, type TensorRef, unpickle } from './pickle-read';
import { type ByteSource, bytesSource } from './source';
import { readZipDirectory, readZipEntry, type ZipEntry } from './zip-read';

/** A pickle beyond this is not a checkpoint's (ConvNeXt-L's with optimizer state is about 200 KB). */
export const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

export interface PthArchive {
  name: string;
  /** The folder every record sits in (`archive` for files written by PyTorch 2 and by SparkLab). */
  prefix: string;
  root: PyValue;
  /** Every tensor in the pickle, in pickle order. */
  tensors: TensorRef[];
  /** Reads the storages behind `tensors` (default: all) and fills each one's `value`. */
  load(
    tensors?: Iterable<TensorRef>,
    onProgress?: (bytesRead: number, bytesTotal: number) => void,
  ): Promise<void>;
}

const TYPED_ARRAYS: Readonly<
  Record<PthDtype, new (buffer: ArrayBuffer, byteOffset: number, length: number) => TensorData>
> = {
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  F64: Float64Array,
  I64: BigInt64Array,
  I32: Int32Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

function elementsOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Checks a view against its storage: non-negative strides and every addressed element inside. */
function checkView(file: string, path: string, ref: TensorRef): void {
  const count = elementsOf(ref.shape);
  if (!Number.isSafeInteger(count))
    throw new PthError(
      `${file}: tensor ${path} declares the shape [${ref.shape.join(', ')}], which no memory holds.`,
    );
  if (count === 0) return;
  if (ref.stride.some((s) => s < 0))
    throw new PthError(
      `${file}: tensor ${path} has the negative stride [${ref.stride.join(', ')}], which PyTorch never writes; the file is corrupt.`,
    );
  let last = ref.offset;
  ref.shape.forEach((d, i) => {
    last += (d - 1) * ref.stride[i];
  });
  if (!(last < ref.storage.numel))
    throw new PthError(
      `${file}: tensor ${path} (offset ${ref.offset}, shape [${ref.shape.join(', ')}], stride [${ref.stride.join(', ')}]) reaches element ${last} of storage ${ref.storage.key}, which has ${ref.storage.numel}; the file is corrupt.`,
    );
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

/** Copies a strided view into a new contiguous array (row-major, as PyTorch's `.contiguous()`). */
function materialise(storage: TensorData, ref: TensorRef, dtype: PthDtype): TensorData {
  const count = elementsOf(ref.shape);
  const Typed = TYPED_ARRAYS[dtype];
  if (isContiguous(ref.shape, ref.stride)) {
    const bytes = DTYPE_BYTES[dtype];
    const copy = new Uint8Array(
      storage.buffer,
      storage.byteOffset + ref.offset * bytes,
      count * bytes,
    ).slice();
    return new Typed(copy.buffer, 0, count);
  }
  const out = new Typed(new ArrayBuffer(count * DTYPE_BYTES[dtype]), 0, count) as unknown as {
    [i: number]: number | bigint;
  };
  const source = storage as unknown as { [i: number]: number | bigint };
  const dims = ref.shape.length;
  const index = new Array<number>(dims).fill(0);
  let at = ref.offset;
  for (let n = 0; n < count; n++) {
    out[n] = source[at];
    for (let d = dims - 1; d >= 0; d--) {
      index[d]++;
      at += ref.stride[d];
      if (index[d] < ref.shape[d]) break;
      at -= index[d] * ref.stride[d];
      index[d] = 0;
    }
  }
  return out as unknown as TensorData;
}

function looksLikeLegacy(head: Uint8Array): boolean {
  // Pre-1.6 files are a bare pickle stream that begins with the protocol opcode (0x80) and a magic number.
  return head.length >= 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5;
}

/** Reads the directory and the pickle; tensors stay unread until `load`. */
export async function openPth(source: ByteSource): Promise<PthArchive> {
  const file = source.name;
  const head = await source.read(0, Math.min(4, source.size));
  if (looksLikeLegacy(head))
    throw new PthError(
      `${file} is in PyTorch's legacy (pre-1.6) format, which SparkLab does not read; re-save it as a zip archive in Python with torch.save(torch.load('${file}'), 'new.pth') (PyTorch 1.6 or later, and only if you trust the file, since torch.load runs code in it).`,
    );
  if (!(head[0] === 0x50 && head[1] === 0x4b))
    throw new PthError(
      `${file} is not a PyTorch checkpoint: it is not a zip archive (it does not start with "PK").`,
    );
  const entries = await readZipDirectory(source);
  if (entries.length === 0) throw new PthError(`${file} is an empty zip archive, not a PyTorch checkpoint.`);
  const prefix = entries[0].name.split('/')[0];
  const byName = new Map<string, ZipEntry>();
  for (const entry of entries) {
    if (!entry.name.startsWith(`${prefix}/`))
      throw new PthError(
        `${file} holds "${entry.name}" outside its folder "${prefix}/"; PyTorch keeps every record in one folder, so this is not a checkpoint.`,
      );
    byName.set(entry.name.slice(prefix.length + 1), entry);
  }
  if (byName.has('constants.pkl') || [...byName.keys()].some((n) => n.startsWith('code/')))
    throw new PthError(
      `${file} is a TorchScript archive (torch.jit.save), not a checkpoint; save the model's state_dict() with torch.save instead.`,
    );
  const pickleEntry = byName.get('data.pkl');
  if (!pickleEntry)
    throw new PthError(
      `${file} is a zip archive without ${prefix}/data.pkl, so it is not a PyTorch checkpoint.`,
    );
  if (pickleEntry.size > MAX_PICKLE_BYTES)
    throw new PthError(
      `${file}: its pickle has ${pickleEntry.size} bytes, more than any checkpoint's (${MAX_PICKLE_BYTES}); the file is not a tensor checkpoint.`,
    );
  const { root, storages, tensors } = unpickle(await readZipEntry(source, pickleEntry), file);

  // Every storage must exist with exactly the bytes its declared element count needs; checked for all of
  // them now so that `load` can only fail on I/O or a CRC mismatch.
  const records = new Map<StorageRef, ZipEntry>();
  for (const storage of storages.values()) {
    const entry = byName.get(`data/${storage.key}`);
    if (!entry)
      throw new PthError(
        `${file}: the pickle names storage ${storage.key}, but the archive has no record ${prefix}/data/${storage.key}; the file is incomplete.`,
      );
    const expected = storage.numel * DTYPE_BYTES[storage.dtype];
    if (entry.size !== expected)
      throw new PthError(
        `${file}: storage ${storage.key} declares ${storage.numel} ${storage.dtype} elements (${expected} bytes) but its record holds ${entry.size} bytes; the file is corrupt.`,
      );
    records.set(storage, entry);
  }
  tensors.forEach((t, i) => {
    checkView(file, `#${i}`, t);
  });

  return {
    name: file,
    prefix,
    root,
    tensors,
    async load(selected = tensors, onProgress) {
      const byStorage = new Map<StorageRef, TensorRef[]>();
      for (const t of selected) {
        const list = byStorage.get(t.storage) ?? [];
        list.push(t);
        byStorage.set(t.storage, list);
      }
      const total = [...byStorage.keys()].reduce((n, s) => n + (records.get(s) as ZipEntry).size, 0);
      let done = 0;
      const values = new Map<TensorRef, SafeTensor>();
      for (const [storage, views] of byStorage) {
        const entry = records.get(storage) as ZipEntry;
        const bytes = await readZipEntry(source, entry);
        // An aligned copy: the record may start at any byte of the file.
        const aligned = bytes.byteOffset % DTYPE_BYTES[storage.dtype] === 0 ? bytes : bytes.slice();
        const data = new TYPED_ARRAYS[storage.dtype](
          aligned.buffer as ArrayBuffer,
          aligned.byteOffset,
          storage.numel,
        );
        for (const view of views)
          values.set(view, {
            dtype: storage.dtype,
            shape: [...view.shape],
            data: materialise(data, view, storage.dtype),
          });
        done += entry.size;
        onProgress?.(done, total);
      }
      // Only now, with every selected tensor read, do the references get their values.
      for (const [view, value] of values) view.value = value;
    },
  };
}

/** Opens and loads everything. */
export async function readPth(source: ByteSource): Promise<PthArchive> {
  const archive = await openPth(source);
  await archive.load();
  return archive;
}

/**
 * The fuzzing entry point: reads bytes as a `.pth` completely. It either returns or throws `PthError`; any
 * other exception (a TypeError, a RangeError) is a bug in the reader.
 */
export async function readPthBytes(bytes: Uint8Array, name = 'the file'): Promise<PthArchive> {
  return readPth(bytesSource(bytes, name));
}
