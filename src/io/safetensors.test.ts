import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  openSafetensors,
  parseSafetensorsHeader,
  readSafetensors,
  SafetensorsError,
  toFloat64Array,
  writeSafetensors,
} from './safetensors';

function sample(): Uint8Array {
  return writeSafetensors(
    [
      ['weight', { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 4, 5, 6]) }],
      ['mask', { dtype: 'U8', shape: [1, 1, 2, 2], data: Uint8Array.from([1, 0, 0, 1]) }],
      ['bn.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.from([7n]) }],
    ],
    { format: 'test/1', note: 'héllo' },
  );
}

/** Builds a file from a hand-written header, to craft malformed headers precisely. */
function rawFile(header: string, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

describe('safetensors', () => {
  it('round-trips F32, U8 and I64 tensors and string metadata', () => {
    const file = readSafetensors(sample());
    expect(file.metadata).toEqual({ format: 'test/1', note: 'héllo' });
    expect([...file.tensors.keys()]).toEqual(['weight', 'mask', 'bn.num_batches_tracked']);
    const w = file.tensors.get('weight')!;
    expect(w.dtype).toBe('F32');
    expect(w.shape).toEqual([2, 3]);
    expect(Array.from(w.data as Float32Array)).toEqual([1, -2, 3.5, 4, 5, 6]);
    expect(Array.from(file.tensors.get('mask')!.data as Uint8Array)).toEqual([1, 0, 0, 1]);
    const nbt = file.tensors.get('bn.num_batches_tracked')!;
    expect(nbt.shape).toEqual([]);
    expect(nbt.data[0]).toBe(7n);
    expect(Array.from(toFloat64Array(nbt))).toEqual([7]);
  });

  it('round-trips random tensors of every common dtype (fast-check)', () => {
    const dtypes = ['F32', 'F64', 'U8', 'I32', 'I64'] as const;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            dtype: fc.constantFrom(...dtypes),
            shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
            seed: fc.integer({ min: 0, max: 1000 }),
          }),
          { maxLength: 5 },
        ),
        (specs) => {
          const tensors = specs.map((s, i) => {
            const count = s.shape.reduce((a, b) => a * b, 1);
            // U8 holds no negatives; the signed and float dtypes get values on both sides of 0.
            const shift = s.dtype === 'U8' ? 0 : 100;
            const data = Array.from({ length: count }, (_, k) => ((s.seed + k * 37) % 200) - shift);
            return [`t${i}`, { dtype: s.dtype, shape: s.shape, data }] as [
              string,
              { dtype: (typeof dtypes)[number]; shape: number[]; data: number[] },
            ];
          });
          const file = readSafetensors(writeSafetensors(tensors));
          expect(file.tensors.size).toBe(tensors.length);
          for (const [name, t] of tensors) {
            const back = file.tensors.get(name)!;
            expect(back.dtype).toBe(t.dtype);
            expect(back.shape).toEqual(t.shape);
            expect(Array.from(toFloat64Array(back))).toEqual(t.data);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('decodes F16 and BF16', () => {
    // 0x3c00 = 1.0 and 0xc000 = -2.0 in half; 0x3f80 = 1.0 and 0x4049 ≈ 3.140625 in bfloat16.
    const bytes = writeSafetensors([
      ['h', { dtype: 'F16', shape: [2], data: Uint16Array.from([0x3c00, 0xc000]) }],
      ['b', { dtype: 'BF16', shape: [2], data: Uint16Array.from([0x3f80, 0x4049]) }],
    ]);
    const file = readSafetensors(bytes);
    expect(Array.from(toFloat64Array(file.tensors.get('h')!))).toEqual([1, -2]);
    expect(Array.from(toFloat64Array(file.tensors.get('b')!))).toEqual([1, 3.140625]);
  });

  const malformed: [string, () => Uint8Array, RegExp][] = [
    ['shorter than 8 bytes', () => new Uint8Array(5), /fewer than the 8-byte/],
    [
      'a header length beyond the file',
      () => {
        const f = sample();
        new DataView(f.buffer).setBigUint64(0, BigInt(f.length), true);
        return f;
      },
      /truncated/,
    ],
    [
      'an absurd header length',
      () => {
        const f = sample();
        new DataView(f.buffer).setBigUint64(0, 1n << 60n, true);
        return f;
      },
      /accepted range/,
    ],
    ['invalid JSON', () => rawFile('{"a": ', 0), /not valid UTF-8 JSON/],
    ['a non-object header', () => rawFile('[1,2]', 0), /not a JSON object/],
    [
      'an unknown dtype',
      () => rawFile('{"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}', 1),
      /unknown dtype/,
    ],
    [
      'a negative dimension',
      () => rawFile('{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', 1),
      /non-negative integers/,
    ],
    [
      'offsets beyond the data',
      () => rawFile('{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}', 2),
      /outside the 2-byte data section/,
    ],
    [
      'a size that disagrees with the shape',
      () => rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4),
      /needs 8 bytes/,
    ],
    [
      'overlapping tensors',
      () =>
        rawFile(
          '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}',
          3,
        ),
      /overlaps/,
    ],
    [
      'bytes no tensor owns',
      () => rawFile('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}', 3),
      /cover only 2/,
    ],
    [
      'non-string metadata',
      () => rawFile('{"__metadata__":{"x":1}}', 0),
      /metadata "x" that is not a string/,
    ],
  ];
  for (const [what, make, message] of malformed) {
    it(`rejects a file with ${what} with a SafetensorsError sentence`, () => {
      const bytes = make();
      expect(() => readSafetensors(bytes, 'bad.safetensors')).toThrow(SafetensorsError);
      expect(() => readSafetensors(bytes, 'bad.safetensors')).toThrow(message);
    });
  }

  it('never throws anything but SafetensorsError on randomly corrupted files, and never returns inconsistent tensors (fast-check)', () => {
    const good = sample();
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.option(fc.nat(), { nil: undefined }),
        (edits, truncateAt) => {
          let bytes = good.slice();
          for (const e of edits) bytes[e.at % bytes.length] = e.value;
          if (truncateAt !== undefined) bytes = bytes.slice(0, truncateAt % (bytes.length + 1));
          try {
            const file = readSafetensors(bytes);
            for (const t of file.tensors.values()) {
              expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
            }
          } catch (error) {
            expect(error).toBeInstanceOf(SafetensorsError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('reads the official parity fixtures', () => {
    const path = join(__dirname, '../../tests/fixtures/official/resnet-basic-s8-in32.safetensors');
    const file = readSafetensors(new Uint8Array(readFileSync(path)));
    expect(file.metadata.format).toBe('spark-parity-fixture/1');
    expect(file.tensors.get('mask')!.dtype).toBe('U8');
    expect(file.tensors.get('param/sparse_encoder.sp_cnn.bn1.num_batches_tracked')!.dtype).toBe('I64');
  });

  const emptyTensors = (count: number) =>
    rawFile(
      `{${Array.from({ length: count }, (_, i) => `"t${i}":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`).join(',')}}`,
      0,
    );

  it('refuses a header of a million empty tensors quickly (its length is over the cap)', () => {
    const bytes = emptyTensors(1_000_000);
    const started = performance.now();
    expect(() => readSafetensors(bytes, 'many.safetensors')).toThrow(/header length \d+ is outside/);
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('refuses more tensors than the cap before parsing the header JSON', () => {
    const bytes = emptyTensors(50_000);
    const parse = vi.spyOn(JSON, 'parse');
    try {
      expect(() => readSafetensors(bytes, 'many.safetensors')).toThrow(/declares about 50000 tensors/);
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
  });

  it('refuses a header larger than the cap from its length field alone', () => {
    const first8 = new Uint8Array(8);
    new DataView(first8.buffer).setBigUint64(0, BigInt(64 * 2 ** 20), true);
    // 8 bytes given, a 1 GiB file claimed: the length is refused before any more is read.
    expect(() => parseSafetensorsHeader(first8, 2 ** 30, 'big.safetensors')).toThrow(/accepted range/);
  });

  it('parses the header from the first bytes of a file, without its data', () => {
    const bytes = sample();
    const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = parseSafetensorsHeader(bytes.subarray(0, headerEnd), bytes.byteLength, 'x');
    expect(header.tensors.get('weight')).toMatchObject({ dtype: 'F32', shape: [2, 3] });
    expect(header.dataStart).toBe(headerEnd);
    expect(header.metadata.format).toBe('test/1');
    // A metadata lookup of an inherited name finds nothing the file did not say.
    expect(header.metadata.constructor).toBeUndefined();
  });

  it('decodes lazily as views into the one buffer of the file', () => {
    const bytes = sample();
    const reader = openSafetensors(bytes, 'lazy.safetensors');
    const weight = reader.tensor('weight')!;
    expect(weight.data.buffer).toBe(bytes.buffer);
    expect(Array.from(weight.data as Float32Array)).toEqual([1, -2, 3.5, 4, 5, 6]);
    expect(reader.tensor('absent')).toBeUndefined();
    // An unaligned file (the bytes start at an odd offset of their buffer) is copied, still correct.
    const shifted = new Uint8Array(bytes.byteLength + 1);
    shifted.set(bytes, 1);
    const odd = openSafetensors(shifted.subarray(1)).tensor('weight')!;
    expect(odd.data.buffer).not.toBe(shifted.buffer);
    expect(Array.from(odd.data as Float32Array)).toEqual([1, -2, 3.5, 4, 5, 6]);
  });

  it('refuses tensors of absurd rank', () => {
    const shape = Array.from({ length: 40 }, () => 1);
    const bytes = rawFile(`{"a":{"dtype":"U8","shape":[${shape}],"data_offsets":[0,1]}}`, 1);
    expect(() => readSafetensors(bytes)).toThrow(/40 dimensions/);
  });
});
