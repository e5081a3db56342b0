/**
 * A restricted unpickler for PyTorch checkpoints. A pickle is a program for a small stack machine; Python's
 * own unpickler imports any global it names and calls it, which is how a hostile `.pth` runs code. This
 * interpreter knows only the instructions and the handful of globals that tensor checkpoints use:
 *
 *   values    dict, OrderedDict, list, tuple, str, int, float, bool, None
 *   globals   collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter,
 *             torch.<Dtype>Storage (storage types named in persistent ids)
 *   storages  persistent ids ('storage', <type>, <key>, <location>, <element count>)
 *
 * Any other global is refused with a sentence naming it, before anything else happens; nothing is ever
 * imported or called (the "calls" above build plain data). Tensors come out as references to storages
 * (key, offset, shape, stride), which read.ts checks against the archive and turns into arrays.
 */
import type { SafeTensor } from '../safetensors';
import { PthError } from './errors';

/** A Python tuple (kept apart from lists so that shapes, betas and persistent ids can be told apart). */
export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

export type PyKey = string | number | bigint | boolean | null;
/** dict and OrderedDict alike: insertion order is kept. */
export type PyDict = Map<PyKey, PyValue>;

/** The element types a storage can hold, as the safetensors names SparkLab uses everywhere. */
export type PthDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'U8' | 'BOOL';

/** torch.<Name>Storage → element type (the five the issue requires, plus three that cost nothing). */
export const STORAGE_TYPES: Readonly<Record<string, PthDtype>> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

/** A storage named by a persistent id; its bytes are the archive record `data/<key>`. */
export class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: PthDtype,
    /** Elements, as declared in the pickle (checked against the record's size later). */
    readonly numel: number,
    readonly location: string,
  ) {}
}

/** A tensor as the pickle describes it: a strided view of a storage (`value` is filled in by read.ts). */
export class TensorRef {
  value: SafeTensor | undefined;
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
    readonly requiresGrad: boolean,
  ) {}
}

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyValue[]
  | PyTuple
  | PyDict
  | TensorRef
  | StorageRef
  | StorageType;

export interface Unpickled {
  root: PyValue;
  storages: Map<string, StorageRef>;
  /** Every tensor the pickle builds, in order. */
  tensors: TensorRef[];
}

class Global {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** torch.<Dtype>Storage as named in a persistent id. */
export class StorageType {
  constructor(readonly dtype: PthDtype) {}
}

const MARK = Symbol('mark');
type StackItem = PyValue | Global | typeof MARK;

const ALLOWED_CALLABLES = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
]);

/** Opcodes that exist in pickles but never in a tensor checkpoint, named for the refusal sentence. */
const REFUSED_OPCODES: Record<number, string> = {
  105: 'INST (instantiate a class)',
  111: 'OBJ (instantiate a class)',
  129: 'NEWOBJ (instantiate a class)',
  146: 'NEWOBJ_EX (instantiate a class)',
  80: 'PERSID (text persistent id)',
  130: 'EXT1 (extension registry)',
  131: 'EXT2 (extension registry)',
  132: 'EXT4 (extension registry)',
  66: 'BINBYTES',
  67: 'SHORT_BINBYTES',
  142: 'BINBYTES8',
  150: 'BYTEARRAY8',
  151: 'NEXT_BUFFER',
  152: 'READONLY_BUFFER',
  143: 'EMPTY_SET',
  144: 'ADDITEMS',
  145: 'FROZENSET',
  73: 'INT (text)',
  76: 'LONG (text)',
  70: 'FLOAT (text)',
  83: 'STRING (text)',
  86: 'UNICODE (text)',
  84: 'BINSTRING (Python 2 str)',
  85: 'SHORT_BINSTRING (Python 2 str)',
  112: 'PUT (text)',
  103: 'GET (text)',
};

function describe(item: StackItem): string {
  if (item === MARK) return 'a mark';
  if (item === null) return 'None';
  if (item instanceof Global) return `the global ${item.qualified}`;
  if (item instanceof StorageType) return 'a storage type';
  if (item instanceof TensorRef) return 'a tensor';
  if (item instanceof StorageRef) return 'a storage';
  if (item instanceof PyTuple) return 'a tuple';
  if (item instanceof Map) return 'a dict';
  if (Array.isArray(item)) return 'a list';
  return `a ${typeof item}`;
}

function isKey(value: StackItem): value is PyKey {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'bigint' ||
    typeof value === 'boolean'
  );
}

function isInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

/** Interprets `bytes` (a data.pkl) under the restrictions above; throws PthError with a sentence otherwise. */
export function unpickle(bytes: Uint8Array, file = 'the file'): Unpickled {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stack: StackItem[] = [];
  const memo = new Map<number, StackItem>();
  const storages = new Map<string, StorageRef>();
  const tensors: TensorRef[] = [];
  /** Dicts built by OrderedDict(): BUILD may set their attributes (state_dict `_metadata`), which we drop. */
  const orderedDicts = new WeakSet<PyDict>();
  let pos = 0;

  const fail = (message: string): never => {
    throw new PthError(`${file}: ${message}`);
  };
  const need = (n: number): void => {
    if (pos + n > bytes.length)
      fail(
        `its pickle ends in the middle of an instruction (at byte ${pos}); the file is truncated or corrupt.`,
      );
  };
  const pop = (): StackItem => {
    if (stack.length === 0)
      fail(`its pickle pops from an empty stack (at byte ${pos}); the file is corrupt.`);
    const item = stack.pop() as StackItem;
    if (item === MARK) fail(`its pickle uses a mark as a value (at byte ${pos}); the file is corrupt.`);
    return item;
  };
  const top = (): StackItem => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK)
      fail(`its pickle reads a value from an empty stack (at byte ${pos}); the file is corrupt.`);
    return stack[stack.length - 1];
  };
  /** Items pushed since the last mark (the mark is removed). */
  const popToMark = (): StackItem[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) fail(`its pickle closes a mark it never opened (at byte ${pos}); the file is corrupt.`);
    const items = stack.splice(at);
    items.shift();
    return items;
  };
  const value = (item: StackItem, what: string): PyValue => {
    if (item === MARK || item instanceof Global)
      fail(`its pickle uses ${describe(item)} as ${what}, which a tensor checkpoint never does.`);
    return item as PyValue;
  };
  const text = (length: number): string => {
    need(length);
    try {
      return utf8.decode(bytes.subarray(pos, (pos += length)));
    } catch {
      return fail(`its pickle holds a string that is not UTF-8 (before byte ${pos}); the file is corrupt.`);
    }
  };
  const setItems = (target: StackItem, items: StackItem[]): void => {
    if (!(target instanceof Map))
      fail(`its pickle sets dict items on ${describe(target)}; the file is corrupt.`);
    if (items.length % 2 !== 0) fail(`its pickle sets a dict item without a value; the file is corrupt.`);
    const dict = target as PyDict;
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i];
      if (!isKey(key))
        fail(`its pickle uses ${describe(key)} as a dict key; checkpoints key dicts by strings and numbers.`);
      dict.set(key as PyKey, value(items[i + 1], 'a dict value'));
    }
  };
  const global = (module: string, name: string): Global | StorageType => {
    const qualified = `${module}.${name}`;
    if (module === 'torch' && Object.hasOwn(STORAGE_TYPES, name)) return new StorageType(STORAGE_TYPES[name]);
    if (ALLOWED_CALLABLES.has(qualified)) return new Global(module, name);
    if (module === 'torch' && name.endsWith('Storage'))
      return fail(
        `it holds a tensor of type ${qualified}, which SparkLab does not read (it reads ${Object.keys(STORAGE_TYPES).join(', ')}); convert that tensor to float32 before saving.`,
      );
    return fail(
      `its pickle refers to the Python global "${qualified}", which a tensor checkpoint never needs; SparkLab refuses the file (torch.load would import and may call it, so do not load it with PyTorch either unless you trust its source).`,
    );
  };

  const reduce = (callable: StackItem, args: StackItem): StackItem => {
    if (!(callable instanceof Global))
      return fail(`its pickle calls ${describe(callable)}, which is not callable; the file is corrupt.`);
    if (!(args instanceof PyTuple))
      return fail(`its pickle calls ${callable.qualified} without an argument tuple; the file is corrupt.`);
    const a = args.items;
    switch (callable.qualified) {
      case 'collections.OrderedDict': {
        if (a.length !== 0)
          fail('its pickle builds an OrderedDict from arguments, which torch.save never does.');
        const dict: PyDict = new Map();
        orderedDicts.add(dict);
        return dict;
      }
      case 'torch._utils._rebuild_tensor_v2': {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (a.length < 6 || a.length > 7)
          fail(
            `its pickle rebuilds a tensor from ${a.length} arguments instead of 6 or 7; the file is corrupt.`,
          );
        const [storage, offset, size, stride, requiresGrad] = a;
        if (!(storage instanceof StorageRef))
          return fail('its pickle rebuilds a tensor from something that is not a storage.');
        if (!isInt(offset) || offset < 0)
          fail(`a tensor has storage offset ${String(offset)}, which is not a non-negative integer.`);
        const shape = intTuple(size, 'size', fail);
        const strides = intTuple(stride, 'stride', fail);
        if (shape.length !== strides.length)
          fail(`a tensor has ${shape.length} dimensions but ${strides.length} strides; the file is corrupt.`);
        if (shape.some((d) => d < 0))
          fail(`a tensor has the negative size [${shape.join(', ')}]; the file is corrupt.`);
        const tensor = new TensorRef(storage, offset as number, shape, strides, requiresGrad === true);
        tensors.push(tensor);
        return tensor;
      }
      case 'torch._utils._rebuild_parameter': {
        // (data, requires_grad, backward_hooks): a Parameter is its tensor here.
        const tensor = a[0];
        if (!(tensor instanceof TensorRef))
          return fail('its pickle rebuilds a parameter from something that is not a tensor.');
        return tensor;
      }
    }
    return fail(`its pickle calls ${callable.qualified}, which SparkLab does not call.`);
  };

  const storageFromPid = (pid: StackItem): StorageRef => {
    if (!(pid instanceof PyTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage')
      return fail(
        "its pickle has a persistent id that is not ('storage', type, key, location, size); the file is not a tensor checkpoint.",
      );
    const [, type, key, location, numel] = pid.items as StackItem[];
    if (!(type instanceof StorageType))
      return fail('its pickle names a storage without a storage type; the file is corrupt.');
    if (typeof key !== 'string' || key.length === 0 || key.length > 64)
      return fail(
        'its pickle names a storage by something other than a short string key; the file is corrupt.',
      );
    if (typeof location !== 'string')
      return fail(`storage ${key} has no device location string; the file is corrupt.`);
    if (!isInt(numel) || numel < 0)
      return fail(`storage ${key} declares ${String(numel)} elements, which is not a size.`);
    const known = storages.get(key);
    if (known) {
      if (known.dtype !== type.dtype || known.numel !== numel)
        fail(`storage ${key} is declared twice with different types or sizes; the file is corrupt.`);
      return known;
    }
    const ref = new StorageRef(key, type.dtype, numel, location);
    storages.set(key, ref);
    return ref;
  };

  for (;;) {
    need(1);
    const op = bytes[pos++];
    switch (op) {
      case 0x80: // PROTO
        need(1);
        if (bytes[pos] > 5) fail(`its pickle uses protocol ${bytes[pos]}, newer than any Python writes (5).`);
        pos += 1;
        break;
      case 0x95: // FRAME: a length prefix for buffering; the content follows inline.
        need(8);
        pos += 8;
        break;
      case 0x2e: {
        // STOP
        const root = pop();
        return { root: value(root, 'the checkpoint'), storages, tensors };
      }
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x30: // POP
        if (stack.length === 0) fail('its pickle pops from an empty stack; the file is corrupt.');
        stack.pop();
        break;
      case 0x31: // POP_MARK
        popToMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x74: // TUPLE
        stack.push(new PyTuple(popToMark().map((item) => value(item, 'a tuple item'))));
        break;
      case 0x85:
      case 0x86:
      case 0x87: {
        // TUPLE1..3
        const items: PyValue[] = [];
        for (let i = 0; i < op - 0x84; i++) items.unshift(value(pop(), 'a tuple item'));
        stack.push(new PyTuple(items));
        break;
      }
      case 0x6c: // LIST
        stack.push(popToMark().map((item) => value(item, 'a list item')));
        break;
      case 0x64: {
        // DICT
        const dict: PyDict = new Map();
        setItems(dict, popToMark());
        stack.push(dict);
        break;
      }
      case 0x61: {
        // APPEND
        const item = value(pop(), 'a list item');
        const list = top();
        if (!Array.isArray(list)) fail(`its pickle appends to ${describe(list)}; the file is corrupt.`);
        (list as PyValue[]).push(item);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popToMark().map((item) => value(item, 'a list item'));
        const list = top();
        if (!Array.isArray(list)) fail(`its pickle appends to ${describe(list)}; the file is corrupt.`);
        for (const item of items) (list as PyValue[]).push(item);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popToMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        need(1);
        memo.set(bytes[pos++], top());
        break;
      case 0x72: // LONG_BINPUT
        need(4);
        memo.set(view.getUint32(pos, true), top());
        pos += 4;
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const size = op === 0x68 ? 1 : 4;
        need(size);
        const index = size === 1 ? bytes[pos] : view.getUint32(pos, true);
        pos += size;
        if (!memo.has(index))
          fail(`its pickle reads memo slot ${index}, which was never written; the file is corrupt.`);
        stack.push(memo.get(index) as StackItem);
        break;
      }
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        need(1);
        stack.push(bytes[pos++]);
        break;
      case 0x4d: // BININT2
        need(2);
        stack.push(view.getUint16(pos, true));
        pos += 2;
        break;
      case 0x8a: // LONG1
      case 0x8b: {
        // LONG4
        let length: number;
        if (op === 0x8a) {
          need(1);
          length = bytes[pos++];
        } else {
          need(4);
          length = view.getInt32(pos, true);
          pos += 4;
          if (length < 0 || length > 64)
            fail(`its pickle holds an integer of ${length} bytes; checkpoints hold no such numbers.`);
        }
        need(length);
        let n = 0n;
        for (let i = length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[pos + i]);
        if (length > 0 && bytes[pos + length - 1] & 0x80) n -= 1n << BigInt(8 * length);
        pos += length;
        stack.push(
          n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n,
        );
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: {
        // BINUNICODE
        need(4);
        const length = view.getUint32(pos, true);
        pos += 4;
        stack.push(text(length));
        break;
      }
      case 0x8c: {
        // SHORT_BINUNICODE
        need(1);
        const length = bytes[pos++];
        stack.push(text(length));
        break;
      }
      case 0x8d: {
        // BINUNICODE8
        need(8);
        const length = Number(view.getBigUint64(pos, true));
        pos += 8;
        if (!(length <= bytes.length))
          fail('its pickle declares a string longer than the pickle itself; the file is corrupt.');
        stack.push(text(length));
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const end1 = bytes.indexOf(0x0a, pos);
        const end2 = end1 < 0 ? -1 : bytes.indexOf(0x0a, end1 + 1);
        if (end2 < 0 || end2 - pos > 512)
          fail('its pickle has a damaged global reference; the file is corrupt.');
        const module = text(end1 - pos);
        pos += 1;
        const name = text(end2 - pos);
        pos += 1;
        stack.push(global(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          fail('its pickle names a global by something other than strings; the file is corrupt.');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        stack.push(reduce(callable, args));
        break;
      }
      case 0x62: {
        // BUILD: only OrderedDict attributes (state_dict's `_metadata`, version numbers of modules).
        const state = pop();
        const target = top();
        if (!(target instanceof Map && orderedDicts.has(target as PyDict)))
          fail(`its pickle sets the state of ${describe(target)}, which tensor checkpoints never do.`);
        value(state, 'an object state');
        break;
      }
      case 0x51: // BINPERSID
        stack.push(storageFromPid(pop()));
        break;
      default: {
        const name = REFUSED_OPCODES[op];
        if (name)
          fail(
            `its pickle uses the instruction ${name}, which tensor checkpoints never contain; SparkLab refuses the file.`,
          );
        fail(
          `its pickle holds the byte 0x${op.toString(16).padStart(2, '0')} where an instruction should be (at byte ${pos - 1}); the file is corrupt or not a pickle.`,
        );
      }
    }
  }
}

function intTuple(value: PyValue, what: string, fail: (message: string) => never): number[] {
  if (!(value instanceof PyTuple) || !value.items.every(isInt))
    return fail(`a tensor has a ${what} that is not a tuple of integers; the file is corrupt.`);
  if (value.items.length > 16)
    fail(`a tensor has ${value.items.length} dimensions, more than any checkpoint tensor.`);
  return value.items as number[];
}
