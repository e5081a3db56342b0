/**
 * Writing a `.pth` that `torch.load` reads: a protocol-2 pickle built from the same small subset the reader
 * accepts (dict, OrderedDict, list, tuple, str, int, float, bool, None, tensors through
 * `torch._utils._rebuild_tensor_v2` and storage persistent ids), zipped like `torch.save` does.
 *
 * That subset is also what PyTorch 2's `torch.load(..., weights_only=True)` allows (its safe unpickler admits
 * exactly these globals and opcodes), so files load there without `weights_only=False`. PyTorch 1.13's
 * weights-only mode has no BINFLOAT and cannot read floats; there plain `torch.load` is the way (the CI test
 * uses it).
 */
import { DTYPE_BYTES, type TensorData } from '../safetensors';
import { PthError } from './errors';
import type { PthDtype } from './pickle-read';
import { writeZip, type ZipWriteOptions } from './zip-write';

/** A Python float even when the value is integral (`5.0`); other JS numbers are ints when integral. */
export class PyFloat {
  constructor(readonly value: number) {}
}

export class PyTupleOut {
  constructor(readonly items: readonly PyOut[]) {}
}

/** An OrderedDict (a `state_dict`); plain `Map`s are written as dicts. */
export class PyOrderedDict {
  constructor(readonly entries: Map<string, PyOut>) {}
}

export class TensorOut {
  constructor(
    readonly dtype: PthDtype,
    readonly shape: readonly number[],
    /** Contiguous, row-major; F16/BF16 as raw 16-bit words. */
    readonly data: TensorData,
  ) {
    const count = shape.reduce((a, b) => a * b, 1);
    if (data.length !== count)
      throw new PthError(
        `A tensor of shape [${shape.join(', ')}] needs ${count} values but has ${data.length}.`,
      );
  }
}

export type PyOut =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyFloat
  | PyOut[]
  | PyTupleOut
  | Map<string | number, PyOut>
  | PyOrderedDict
  | TensorOut;

const STORAGE_NAMES: Readonly<Record<PthDtype, string>> = {
  F32: 'FloatStorage',
  F16: 'HalfStorage',
  BF16: 'BFloat16Storage',
  F64: 'DoubleStorage',
  I64: 'LongStorage',
  I32: 'IntStorage',
  U8: 'ByteStorage',
  BOOL: 'BoolStorage',
};

/** Protocol-2 opcodes used here. */
const OP = {
  PROTO: 0x80,
  STOP: 0x2e,
  MARK: 0x28,
  EMPTY_DICT: 0x7d,
  EMPTY_LIST: 0x5d,
  EMPTY_TUPLE: 0x29,
  TUPLE: 0x74,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  APPENDS: 0x65,
  SETITEMS: 0x75,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  LONG1: 0x8a,
  BINFLOAT: 0x47,
  BINUNICODE: 0x58,
  NONE: 0x4e,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  GLOBAL: 0x63,
  REDUCE: 0x52,
  BINPERSID: 0x51,
} as const;

/** Python writes containers in batches of 1000 items between MARK and APPENDS/SETITEMS. */
const BATCH = 1000;

class Pickler {
  private chunks: number[] = [];
  private readonly encoder = new TextEncoder();
  readonly storages: TensorOut[] = [];

  byte(b: number): void {
    this.chunks.push(b);
  }

  bytes(b: Uint8Array): void {
    for (const x of b) this.chunks.push(x);
  }

  u32(n: number): void {
    this.bytes(new Uint8Array(new Uint32Array([n]).buffer));
  }

  int(n: number | bigint): void {
    if (typeof n === 'number' && !Number.isSafeInteger(n))
      throw new PthError(`${n} is not an integer that can be saved exactly.`);
    if (typeof n === 'number' && n >= 0 && n < 256) {
      this.byte(OP.BININT1);
      this.byte(n);
    } else if (typeof n === 'number' && n >= 0 && n < 65536) {
      this.byte(OP.BININT2);
      this.bytes(new Uint8Array(new Uint16Array([n]).buffer));
    } else if (typeof n === 'number' && n >= -(2 ** 31) && n < 2 ** 31) {
      this.byte(OP.BININT);
      this.bytes(new Uint8Array(new Int32Array([n]).buffer));
    } else {
      // LONG1: little-endian two's complement, as short as the sign allows.
      let v = BigInt(n);
      const out: number[] = [];
      for (;;) {
        const b = Number(v & 0xffn);
        out.push(b);
        v >>= 8n;
        if ((v === 0n && !(b & 0x80)) || (v === -1n && b & 0x80)) break;
      }
      this.byte(OP.LONG1);
      this.byte(out.length);
      for (const b of out) this.byte(b);
    }
  }

  float(x: number): void {
    this.byte(OP.BINFLOAT);
    const buffer = new DataView(new ArrayBuffer(8));
    buffer.setFloat64(0, x, false);
    this.bytes(new Uint8Array(buffer.buffer));
  }

  string(s: string): void {
    const b = this.encoder.encode(s);
    this.byte(OP.BINUNICODE);
    this.u32(b.length);
    this.bytes(b);
  }

  global(module: string, name: string): void {
    this.byte(OP.GLOBAL);
    this.bytes(this.encoder.encode(`${module}\n${name}\n`));
  }

  tuple(items: readonly PyOut[]): void {
    if (items.length === 0) {
      this.byte(OP.EMPTY_TUPLE);
      return;
    }
    if (items.length <= 3) {
      for (const item of items) this.value(item);
      this.byte([OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][items.length - 1]);
      return;
    }
    this.byte(OP.MARK);
    for (const item of items) this.value(item);
    this.byte(OP.TUPLE);
  }

  dictItems(entries: Iterable<[string | number, PyOut]>): void {
    const all = [...entries];
    for (let i = 0; i < all.length; i += BATCH) {
      this.byte(OP.MARK);
      for (const [k, v] of all.slice(i, i + BATCH)) {
        if (typeof k === 'string') this.string(k);
        else this.int(k);
        this.value(v);
      }
      this.byte(OP.SETITEMS);
    }
  }

  tensor(t: TensorOut): void {
    const key = String(this.storages.length);
    this.storages.push(t);
    const count = t.data.length;
    const strides: number[] = [];
    let stride = 1;
    for (let i = t.shape.length - 1; i >= 0; i--) {
      strides.unshift(stride);
      stride *= t.shape[i];
    }
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.byte(OP.MARK);
    // Persistent id ('storage', torch.<Dtype>Storage, key, 'cpu', element count).
    this.byte(OP.MARK);
    this.string('storage');
    this.global('torch', STORAGE_NAMES[t.dtype]);
    this.string(key);
    this.string('cpu');
    this.int(count);
    this.byte(OP.TUPLE);
    this.byte(OP.BINPERSID);
    this.int(0);
    this.tuple(t.shape);
    this.tuple(strides);
    this.byte(OP.NEWFALSE);
    this.global('collections', 'OrderedDict');
    this.byte(OP.EMPTY_TUPLE);
    this.byte(OP.REDUCE);
    this.byte(OP.TUPLE);
    this.byte(OP.REDUCE);
  }

  value(v: PyOut): void {
    if (v === null) this.byte(OP.NONE);
    else if (v === true) this.byte(OP.NEWTRUE);
    else if (v === false) this.byte(OP.NEWFALSE);
    else if (typeof v === 'bigint') this.int(v);
    else if (typeof v === 'number') Number.isInteger(v) ? this.int(v) : this.float(v);
    else if (typeof v === 'string') this.string(v);
    else if (v instanceof PyFloat) this.float(v.value);
    else if (v instanceof TensorOut) this.tensor(v);
    else if (v instanceof PyTupleOut) this.tuple(v.items);
    else if (v instanceof PyOrderedDict) {
      this.global('collections', 'OrderedDict');
      this.byte(OP.EMPTY_TUPLE);
      this.byte(OP.REDUCE);
      this.dictItems(v.entries);
    } else if (v instanceof Map) {
      this.byte(OP.EMPTY_DICT);
      this.dictItems(v);
    } else if (Array.isArray(v)) {
      this.byte(OP.EMPTY_LIST);
      for (let i = 0; i < v.length; i += BATCH) {
        this.byte(OP.MARK);
        for (const item of v.slice(i, i + BATCH)) this.value(item);
        this.byte(OP.APPENDS);
      }
    } else throw new PthError(`Cannot save ${String(v)} in a checkpoint.`);
  }

  finish(root: PyOut): Uint8Array {
    this.byte(OP.PROTO);
    this.byte(2);
    this.value(root);
    this.byte(OP.STOP);
    return Uint8Array.from(this.chunks);
  }
}

/** The pickle alone (tests inspect it); storages are numbered in the order tensors are met. */
export function pickleCheckpoint(root: PyOut): { pickle: Uint8Array; storages: TensorOut[] } {
  const pickler = new Pickler();
  const pickle = pickler.finish(root);
  return { pickle, storages: pickler.storages };
}

/** A `.pth` as zip chunks (see zip-write.ts); `Blob`/file-stream them or `concatChunks` them. */
export function writePth(root: PyOut, options: ZipWriteOptions = {}): Uint8Array[] {
  const { pickle, storages } = pickleCheckpoint(root);
  const prefix = 'archive';
  return writeZip(
    [
      { name: `${prefix}/data.pkl`, data: pickle },
      { name: `${prefix}/byteorder`, data: new TextEncoder().encode('little') },
      ...storages.map((t, i) => ({
        name: `${prefix}/data/${i}`,
        data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.length * DTYPE_BYTES[t.dtype]),
      })),
      { name: `${prefix}/version`, data: new TextEncoder().encode('3\n') },
    ],
    options,
  );
}
