/**
 * The IDX format of (Fashion-)MNIST: magic 0x0000, a type byte (0x08 = unsigned bytes), the number of
 * dimensions, one big-endian u32 per dimension, then the data. Usually gzip-compressed.
 */

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

export function parseIdx(bytes: Uint8Array, what = 'IDX file'): IdxArray {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new Error(`The ${what} is not in IDX format (it does not start with two zero bytes).`);
  }
  if (bytes[2] !== 0x08) {
    throw new Error(
      `The ${what} holds type 0x${bytes[2].toString(16)}; only unsigned bytes (0x08) are supported.`,
    );
  }
  const rank = bytes[3];
  const headerLength = 4 + 4 * rank;
  if (rank === 0 || bytes.length < headerLength) {
    throw new Error(`The ${what} ends inside its header (truncated file).`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - headerLength !== count) {
    throw new Error(
      `The ${what} declares ${dims.join('×')} = ${count} values but holds ${bytes.length - headerLength} (damaged file).`,
    );
  }
  return { dims, data: bytes.subarray(headerLength) };
}

/** gzip decompression with the web-standard DecompressionStream (browsers, workers and Node ≥ 18). */
export async function gunzipWeb(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>])
    .stream()
    .pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
