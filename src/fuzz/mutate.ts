/**
 * Seeded mutations of file bytes for the fuzzers: byte flips and random bytes, truncations, repeated or
 * removed slices, and edits of little- and big-endian length fields. Format-aware mutators (safetensors
 * headers) live with their targets. Everything derives from one 32-bit seed, so a crash is reproduced from
 * the seed and iteration the report prints.
 */

/** mulberry32: tiny, fast and good enough to pick mutations (not for the model's randomness). */
export class FuzzRng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

/** Values that break size arithmetic: zero, one, around 2^31, 2^32 and 2^53, and all-ones. */
export const INTERESTING_U32 = [
  0, 1, 2, 7, 8, 0x7f, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
];

function flipBytes(rng: FuzzRng, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const count = 1 + rng.int(8);
  for (let i = 0; i < count && out.length > 0; i++) {
    const at = rng.int(out.length);
    out[at] = rng.next() < 0.5 ? out[at] ^ (1 << rng.int(8)) : rng.int(256);
  }
  return out;
}

function truncate(rng: FuzzRng, bytes: Uint8Array): Uint8Array {
  return bytes.slice(0, rng.int(bytes.length + 1));
}

function removeSlice(rng: FuzzRng, bytes: Uint8Array): Uint8Array {
  if (bytes.length < 2) return bytes.slice();
  const from = rng.int(bytes.length);
  const to = Math.min(bytes.length, from + 1 + rng.int(64));
  const out = new Uint8Array(bytes.length - (to - from));
  out.set(bytes.subarray(0, from));
  out.set(bytes.subarray(to), from);
  return out;
}

function repeatSlice(rng: FuzzRng, bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0) return bytes.slice();
  const from = rng.int(bytes.length);
  const slice = bytes.subarray(from, Math.min(bytes.length, from + 1 + rng.int(64)));
  const times = 1 + rng.int(16);
  const out = new Uint8Array(bytes.length + slice.length * times);
  out.set(bytes.subarray(0, from));
  for (let k = 0; k < times; k++) out.set(slice, from + k * slice.length);
  out.set(bytes.subarray(from), from + times * slice.length);
  return out;
}

function overwriteU32(rng: FuzzRng, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  if (out.length < 4) return out;
  const at = rng.int(out.length - 3);
  const value = rng.next() < 0.7 ? rng.pick(INTERESTING_U32) : rng.int(2 ** 32);
  new DataView(out.buffer).setUint32(at, value, rng.next() < 0.5);
  return out;
}

const GENERIC = [flipBytes, flipBytes, truncate, removeSlice, repeatSlice, overwriteU32] as const;

/** One to three generic mutations of `bytes` (a new array; the input is never changed). */
export function mutateBytes(rng: FuzzRng, bytes: Uint8Array): Uint8Array {
  let out = bytes;
  const rounds = 1 + rng.int(3);
  for (let r = 0; r < rounds; r++) out = rng.pick(GENERIC)(rng, out);
  return out === bytes ? bytes.slice() : out;
}
