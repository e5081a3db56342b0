/**
 * Random access to the bytes of a file without holding all of it: the `.pth` reader asks for the zip
 * directory, the pickle and then one storage at a time, so a 0.9 GB checkpoint dropped into the page is
 * never copied whole into memory (a `Blob` is read slice by slice; Node reads with a file handle, see
 * node-source.ts).
 */
import { PthError } from './errors';

export interface ByteSource {
  /** What messages call the file. */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes from `offset` (the caller checks the range against `size` first). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

function checkRange(source: { name: string; size: number }, offset: number, length: number): void {
  if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0))
    throw new PthError(`${source.name}: a read at ${offset} of ${length} bytes is not a valid range.`);
  if (offset + length > source.size)
    throw new PthError(
      `${source.name} is truncated: bytes ${offset}..${offset + length} lie past its end (${source.size} bytes).`,
    );
}

/** A source over bytes already in memory (tests, fuzzing, small files). Reads are views, not copies. */
export function bytesSource(bytes: Uint8Array, name = 'the file'): ByteSource {
  const source: ByteSource = {
    name,
    size: bytes.byteLength,
    async read(offset, length) {
      checkRange(source, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
  return source;
}

/** A source over a browser `File`/`Blob`: each read is one `slice().arrayBuffer()`. */
export function blobSource(blob: Blob, name = (blob as File).name ?? 'the file'): ByteSource {
  const source: ByteSource = {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange(source, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
  return source;
}

export { checkRange };
