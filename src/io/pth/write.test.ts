import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTorch } from '../../../tests/torch-python';
import type { PyTuple, PyValue, TensorRef } from './pickle-read';
import { readPthBytes } from './read';
import { PyFloat, PyOrderedDict, type PyOut, PyTupleOut, TensorOut, writePth } from './write';
import { concatChunks } from './zip-write';

/** Describes a value the way the Python script below describes what torch.load returns. */
function describeOut(v: PyOut): unknown {
  if (v instanceof TensorOut) {
    const bytes = new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength);
    return { tensor: v.dtype, shape: [...v.shape], sha256: createHash('sha256').update(bytes).digest('hex') };
  }
  if (v instanceof PyFloat) return { float: v.value };
  if (typeof v === 'number') return Number.isInteger(v) ? { int: String(v) } : { float: v };
  if (typeof v === 'bigint') return { int: String(v) };
  if (v instanceof PyTupleOut) return { tuple: v.items.map(describeOut) };
  if (v instanceof PyOrderedDict) return { odict: [...v.entries].map(([k, x]) => [k, describeOut(x)]) };
  if (v instanceof Map)
    return { dict: [...v].map(([k, x]) => [typeof k === 'number' ? { int: String(k) } : k, describeOut(x)]) };
  if (Array.isArray(v)) return { list: v.map(describeOut) };
  return v;
}

const DESCRIBE_PY = `
import collections, hashlib, json, sys, torch
NAMES = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.float64: 'F64', torch.int64: 'I64'}
def d(v):
    if isinstance(v, torch.Tensor):
        t = v.contiguous()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        return {'tensor': NAMES[t.dtype], 'shape': list(t.shape), 'sha256': hashlib.sha256(raw).hexdigest()}
    if isinstance(v, bool) or v is None or isinstance(v, str): return v
    if isinstance(v, int): return {'int': str(v)}
    if isinstance(v, float): return {'float': v}
    if isinstance(v, tuple): return {'tuple': [d(x) for x in v]}
    if isinstance(v, collections.OrderedDict): return {'odict': [[k, d(x)] for k, x in v.items()]}
    if isinstance(v, dict): return {'dict': [[({'int': str(k)} if isinstance(k, int) else k), d(x)] for k, x in v.items()]}
    if isinstance(v, list): return {'list': [d(x) for x in v]}
    raise TypeError(type(v))
print(json.dumps(d(torch.load(sys.argv[1], map_location='cpu'))))
`;

function sample(): PyOut {
  return new Map<string | number, PyOut>([
    [
      'module',
      new PyOrderedDict(
        new Map<string, PyOut>([
          [
            'w',
            new TensorOut(
              'F32',
              [2, 3],
              Float32Array.from([1, -0, Number.NaN, Number.POSITIVE_INFINITY, 1e-45, 3.5]),
            ),
          ],
          ['h', new TensorOut('F16', [2], Uint16Array.from([0x3c00, 0xfbff]))],
          ['b', new TensorOut('BF16', [2], Uint16Array.from([0x3f80, 0xc049]))],
          ['d', new TensorOut('F64', [1], Float64Array.from([Math.PI]))],
          ['n', new TensorOut('I64', [], BigInt64Array.from([2n ** 62n + 3n]))],
          ['empty', new TensorOut('F32', [0, 4], new Float32Array(0))],
        ]),
      ),
    ],
    ['epoch', 7],
    ['lr', 1.5e-4],
    ['max_grad_norm', new PyFloat(5)],
    ['big', 2n ** 70n],
    ['negative', -300000],
    ['betas', new PyTupleOut([0.9, 0.95])],
    [
      'state',
      new Map<string | number, PyOut>([
        [0, new Map([['step', 3]])],
        [70000, null],
      ]),
    ],
    ['list', Array.from({ length: 1003 }, (_, i) => i)],
    ['flags', [true, false, null, 'ünïcode']],
  ]);
}

function toFile(chunks: Uint8Array[]): string {
  const path = join(mkdtempSync(join(tmpdir(), 'sparklab-pth-')), 'out.pth');
  writeFileSync(path, concatChunks(chunks));
  return path;
}

describe('pth writer', () => {
  it('writes what the own reader reads back exactly', async () => {
    const archive = await readPthBytes(concatChunks(writePth(sample())));
    const root = archive.root as Map<string, PyValue>;
    const module = root.get('module') as Map<string, PyValue>;
    expect([...module.keys()]).toEqual(['w', 'h', 'b', 'd', 'n', 'empty']);
    const w = (module.get('w') as TensorRef).value!;
    expect(Object.is(w.data[1], -0)).toBe(true);
    expect(Array.from(w.data as Float32Array)).toEqual(
      [1, -0, Number.NaN, Number.POSITIVE_INFINITY, 1e-45, 3.5].map(Math.fround),
    );
    expect((module.get('n') as TensorRef).value!.data[0]).toBe(2n ** 62n + 3n);
    expect(root.get('big')).toBe(2n ** 70n);
    expect(root.get('negative')).toBe(-300000);
    expect((root.get('betas') as PyTuple).items).toEqual([0.9, 0.95]);
    expect((root.get('list') as number[]).length).toBe(1003);
    expect((root.get('state') as Map<number, PyValue>).has(70000)).toBe(true);
  });

  it('loads with torch.load to the same values, types and tensor bytes (PyTorch 1.13, python3-torch)', () => {
    const described = JSON.parse(runTorch(DESCRIBE_PY, [toFile(writePth(sample()))]));
    expect(described).toEqual(JSON.parse(JSON.stringify(describeOut(sample()))));
  });

  it('writes ZIP64 fields that torch.load and the own reader accept (threshold lowered to exercise them)', async () => {
    const chunks = writePth(sample(), { zip64Threshold: 0 });
    const described = JSON.parse(runTorch(DESCRIBE_PY, [toFile(chunks)]));
    expect(described).toEqual(JSON.parse(JSON.stringify(describeOut(sample()))));
    const archive = await readPthBytes(concatChunks(chunks));
    expect(archive.tensors.length).toBe(6);
  });

  it("loads with PyTorch 1.13's weights-only unpickler when it holds no floats (that mode has no BINFLOAT)", () => {
    const noFloats = new PyOrderedDict(
      new Map<string, PyOut>([
        ['conv1.weight', new TensorOut('F32', [2, 2], Float32Array.of(1, 2, 3, 4))],
        ['bn1.num_batches_tracked', new TensorOut('I64', [], BigInt64Array.of(5n))],
        ['meta', new Map<string | number, PyOut>([[0, [true, null, 'x', new PyTupleOut([1, 2])]]])],
      ]),
    );
    const script =
      "import sys, torch; d = torch.load(sys.argv[1], weights_only=True); print(sorted(d), d['conv1.weight'].sum().item())";
    expect(runTorch(script, [toFile(writePth(noFloats))]).trim()).toBe(
      "['bn1.num_batches_tracked', 'conv1.weight', 'meta'] 10.0",
    );
  });

  it('aligns every record to 64 bytes as torch.save does', async () => {
    const bytes = concatChunks(writePth(sample()));
    const view = new DataView(bytes.buffer);
    for (let at = 0; view.getUint32(at, true) === 0x04034b50; ) {
      const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
      expect(start % 64).toBe(0);
      at = start + view.getUint32(at + 18, true);
    }
  });
});
