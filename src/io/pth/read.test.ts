import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PthError } from './errors';
import { PyTuple, type PyValue, TensorRef } from './pickle-read';
import { openPth, readPth, readPthBytes } from './read';
import { blobSource, bytesSource } from './source';
import { readZipDirectory } from './zip-read';

const DIR = join(__dirname, '../../../tests/fixtures/pth');
const fixture = (name: string) => new Uint8Array(readFileSync(join(DIR, name)));

interface Expected {
  dtype: string;
  shape: number[];
  sha256: string;
  hex?: string;
}

/** Follows a '/'-joined path of dict keys (string or integer) and list indices, as the fixture script writes them. */
function at(root: PyValue, path: string): PyValue {
  let node: PyValue = root;
  for (const part of path.split('/')) {
    if (node instanceof Map) node = (node.has(part) ? node.get(part) : node.get(Number(part))) as PyValue;
    else if (Array.isArray(node)) node = node[Number(part)];
    else if (node instanceof PyTuple) node = node.items[Number(part)];
    else throw new Error(`no ${part} in ${path}`);
    if (node === undefined) throw new Error(`no ${part} in ${path}`);
  }
  return node;
}

function bytesOf(t: TensorRef): Uint8Array {
  const data = t.value!.data;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

async function expectMatchesTorch(name: string): Promise<number> {
  const archive = await readPthBytes(fixture(`${name}.pth`), `${name}.pth`);
  const expected = JSON.parse(readFileSync(join(DIR, `${name}.expected.json`), 'utf8')) as Record<
    string,
    Expected
  >;
  for (const [path, e] of Object.entries(expected)) {
    const t = at(archive.root, path);
    expect(t, path).toBeInstanceOf(TensorRef);
    const ref = t as TensorRef;
    expect(ref.value!.dtype, path).toBe(e.dtype);
    expect(ref.value!.shape, path).toEqual(e.shape);
    const bytes = bytesOf(ref);
    if (e.hex !== undefined) expect(Buffer.from(bytes).toString('hex'), path).toBe(e.hex);
    expect(createHash('sha256').update(bytes).digest('hex'), path).toBe(e.sha256);
  }
  return Object.keys(expected).length;
}

describe('pth reader against torch.save (PyTorch 1.13 fixtures)', () => {
  it('reproduces every tensor bit for bit: fp32 specials, fp16, bf16, fp64, int64 beyond 2^53, views', async () => {
    expect(await expectMatchesTorch('tensors')).toBe(16);
  });

  it('reads strided views (transpose, column, expand) as PyTorch makes them contiguous', async () => {
    const { root } = await readPthBytes(fixture('tensors.pth'));
    const shared = at(root, 'shared_t') as TensorRef;
    expect(shared.stride).toEqual([1, 6]);
    // arange(24).reshape(4, 6).t(): row r of the transpose is column r of the original.
    expect(Array.from(shared.value!.data as Float32Array).slice(0, 5)).toEqual([0, 6, 12, 18, 1]);
    expect(Array.from((at(root, 'shared_column') as TensorRef).value!.data as Float32Array)).toEqual([
      2, 8, 14, 20,
    ]);
    expect((at(root, 'i64') as TensorRef).value!.data[3]).toBe(2n ** 53n + 1n);
  });

  it('reads official-layout SparK checkpoints (LAMB and AdamW), a flat state dict and a timm-style encoder', async () => {
    for (const name of ['official-tiny-lamb', 'official-tiny-adamw', 'flat-tiny', 'encoder-timm-tiny'])
      expect(await expectMatchesTorch(name)).toBeGreaterThan(40);
    // A real module's state_dict: its `_metadata` attribute arrives through BUILD and is dropped.
    expect(await expectMatchesTorch('module-state-dict')).toBe(7);
    const { root } = await readPthBytes(fixture('official-tiny-lamb.pth'));
    expect(at(root, 'epoch')).toBe(4);
    expect(at(root, 'is_pretrain')).toBe(true);
    expect(at(root, 'optimizer/param_groups/0/lr')).toBe(1.5e-4);
    expect((at(root, 'optimizer/param_groups/0/betas') as PyTuple).items).toEqual([0.9, 0.95]);
    expect(at(root, 'module/config/sparse_encoder.input_size')).toBe(32);
  });

  it('reads from a Blob slice by slice (the page) as from bytes', async () => {
    const bytes = fixture('tensors.pth');
    const viaBlob = await readPth(blobSource(new Blob([bytes]), 'tensors.pth'));
    const viaBytes = await readPth(bytesSource(bytes));
    expect(viaBlob.tensors.map((t) => Array.from(bytesOf(t)))).toEqual(
      viaBytes.tensors.map((t) => Array.from(bytesOf(t))),
    );
  });

  it('loads only the tensors asked for', async () => {
    const archive = await openPth(bytesSource(fixture('official-tiny-lamb.pth')));
    const module = at(archive.root, 'module') as Map<string, PyValue>;
    const weights = [...module.values()].filter((v): v is TensorRef => v instanceof TensorRef);
    await archive.load(weights);
    expect(weights.every((t) => t.value !== undefined)).toBe(true);
    expect(archive.tensors.filter((t) => t.value === undefined).length).toBeGreaterThan(100);
  });
});

async function refusal(bytes: Uint8Array, name = 'x.pth'): Promise<string> {
  try {
    await readPthBytes(bytes, name);
  } catch (error) {
    expect(error, String(error)).toBeInstanceOf(PthError);
    return (error as Error).message;
  }
  throw new Error(`${name} was read without complaint`);
}

describe('pth reader refusals', () => {
  it.each([
    ['forbidden-global.pth', /Python global "posix\.system"/],
    ['reduce-system.pth', /Python global "posix\.system"/],
    ['reduce-payload.pth', /Python global "__builtin__\.exec"/],
    ['legacy-format.pth', /legacy \(pre-1\.6\) format.*torch\.save\(torch\.load/],
    ['huge-storage.pth', /declares 1099511627776 F32 elements .* record holds 16 bytes/],
    ['offset-out-of-range.pth', /reaches element 4 of storage 0, which has 4/],
    ['stride-out-of-range.pth', /reaches element 4 of storage 0/],
    ['missing-storage.pth', /no record archive\/data\/7/],
    ['short-storage.pth', /declares 8 F32 elements \(32 bytes\) but its record holds 16/],
    ['negative-stride.pth', /negative stride/],
    ['int16-storage.pth', /torch\.ShortStorage, which SparkLab does not read/],
  ])('%s ends in a sentence', async (name, pattern) => {
    const message = await refusal(fixture(name), name);
    expect(message).toMatch(pattern);
    expect(message.startsWith(name)).toBe(true);
    expect(message.endsWith('.')).toBe(true);
  });

  it('refuses every truncation of a checkpoint', async () => {
    const bytes = fixture('tensors.pth');
    for (const length of [0, 1, 2, 21, 100, 1000, bytes.length - 23, bytes.length - 22, bytes.length - 1])
      expect(await refusal(bytes.subarray(0, length))).toMatch(
        /truncated|not a zip|not a PyTorch|corrupt|only/,
      );
  });

  it('refuses a damaged central directory, a damaged storage (CRC) and a damaged pickle', async () => {
    const bytes = fixture('tensors.pth');
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const eocd = bytes.length - 22;
    const directory = view.getUint32(eocd + 16, true);
    const badDirectory = bytes.slice();
    badDirectory[directory] ^= 0xff;
    expect(await refusal(badDirectory)).toMatch(/directory entry 0 .* damaged/);
    // torch always writes the ZIP64 end records, so the directory offset that counts is the ZIP64 one.
    const zip64 = Number(view.getBigUint64(eocd - 20 + 8, true));
    expect(view.getUint32(zip64, true)).toBe(0x06064b50);
    const badOffset = bytes.slice();
    new DataView(badOffset.buffer).setBigUint64(zip64 + 48, BigInt(bytes.length), true);
    expect(await refusal(badOffset)).toMatch(/central directory .* past its end/);
    const storage = (await readZipDirectory(bytesSource(bytes))).find((e) => e.name === 'tensors/data/0')!;
    const local = storage.localHeaderOffset;
    const dataStart = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const badStorage = bytes.slice();
    badStorage[dataStart + 5] ^= 0x01;
    expect(await refusal(badStorage)).toMatch(/"tensors\/data\/0" fails its CRC-32 check/);
    const pickle = (await readZipDirectory(bytesSource(bytes))).find((e) => e.name === 'tensors/data.pkl')!;
    const pickleStart =
      30 +
      view.getUint16(pickle.localHeaderOffset + 26, true) +
      view.getUint16(pickle.localHeaderOffset + 28, true);
    const badPickle = bytes.slice();
    badPickle[pickleStart + 3] = 0xff;
    expect(await refusal(badPickle)).toMatch(/data\.pkl" fails its CRC-32 check/);
  });

  it('refuses random corruption with PthError only (a small in-test fuzz; the corpus goes to npm run fuzz)', async () => {
    const bytes = fixture('tensors.pth');
    let state = 12345;
    const next = () => {
      state = (state * 1103515245 + 12345) >>> 0;
      return state;
    };
    let refused = 0;
    for (let round = 0; round < 300; round++) {
      const mutated = bytes.slice();
      for (let k = 0; k < 1 + (next() % 4); k++) mutated[next() % mutated.length] = next() & 0xff;
      try {
        await readPthBytes(mutated);
      } catch (error) {
        expect(error, String(error)).toBeInstanceOf(PthError);
        refused++;
      }
    }
    // Changes to record contents fail the CRC and changes to the directory a structural check; about half land
    // in fields nothing reads (torch's alignment padding, local-header times and zeroed sizes) and change nothing.
    expect(refused).toBeGreaterThan(100);
  });
});
