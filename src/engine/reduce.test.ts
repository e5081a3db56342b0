import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runAndRead, testGpu } from '../../tests/gpu';
import type { Gpu, GpuTensor } from '../gpu/runtime';
import { assertClose } from '../reference/allclose';
import * as ref from '../reference/reduce';
import { Rng } from '../util/random';
import { Arena } from './params';
import { arenaSegments, columnSum, SEGMENT_CHUNK, type Segment, segmentSumSquares, sum } from './reduce';

const UNIT_ROUNDOFF = 2 ** -24;

/** Small integers: every partial sum is an integer below 2²⁴, so float32 sums are exact in any order. */
function integers(rng: Rng, n: number, max: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(2 * max + 1) - max;
  return out;
}

async function gpuSum(gpu: Gpu, data: Float32Array, squares: boolean): Promise<number> {
  const x = gpu.upload('x', data);
  const out = gpu.upload('out', new Float32Array([Number.NaN]));
  const [value] = await runAndRead(gpu, 'sum', [sum(gpu, { out, x, squares })], out);
  gpu.releaseTensor(x);
  gpu.releaseTensor(out);
  return value;
}

async function gpuColumnSum(
  gpu: Gpu,
  data: Float32Array,
  rows: number,
  cols: number,
  previous?: Float32Array,
): Promise<Float32Array> {
  const x = gpu.upload('x', data);
  const out = gpu.upload('out', previous ?? new Float32Array(cols).fill(Number.NaN));
  const result = await runAndRead(
    gpu,
    'columnSum',
    [columnSum(gpu, { out, x, rows, cols, accumulate: previous !== undefined })],
    out,
  );
  gpu.releaseTensor(x);
  gpu.releaseTensor(out);
  return result;
}

async function gpuSegments(gpu: Gpu, x: GpuTensor, segments: Segment[]): Promise<Float32Array> {
  const out = gpu.upload('norms', new Float32Array(segments.length + 2).fill(Number.NaN));
  const result = await runAndRead(gpu, 'segments', [segmentSumSquares(gpu, { out, x, segments })], out);
  gpu.releaseTensor(out);
  return result;
}

// 1, primes, around the 256-thread workgroup and the 4096-element chunk, and past 1024 partials (4 M).
const SUM_SIZES = [1, 2, 3, 13, 255, 256, 257, 4095, 4096, 4097, 65537, 100003, 1024 * 4096 + 5];

describe('reductions vs float64 twins', () => {
  it('sum and sum of squares are exact on integer data (edge sizes)', async () => {
    const gpu = await testGpu();
    const rng = new Rng(11);
    for (const n of SUM_SIZES) {
      const data = integers(rng, n, n > 1e6 ? 1 : 8);
      expect(await gpuSum(gpu, data, false), `Σx n=${n}`).toBe(ref.sum(data));
      expect(await gpuSum(gpu, data, true), `Σx² n=${n}`).toBe(ref.sum(data, true));
    }
  });

  it('sum and sum of squares on random floats and sizes (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20000 }),
        fc.boolean(),
        fc.integer(),
        async (n, squares, seed) => {
          const data = new Rng(seed).floats(n, -3, 3);
          const actual = await gpuSum(gpu, data, squares);
          // Each element goes through at most 16 sequential adds per thread, an 8-level tree, ≤ 4 adds in the
          // final pass and another 8-level tree: error ≤ 40·u·Σ|terms| (rigorous for any such order).
          const magnitude = ref.sum(Float64Array.from(data, Math.abs), squares);
          assertClose([actual], [ref.sum(data, squares)], {
            rtol: 0,
            atol: 40 * UNIT_ROUNDOFF * magnitude + 1e-30,
            label: `${squares ? 'Σx²' : 'Σx'} n=${n}`,
          });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('sum is deterministic run to run', async () => {
    const gpu = await testGpu();
    const data = new Rng(5).floats(300001);
    const first = await gpuSum(gpu, data, false);
    for (let i = 0; i < 3; i++) expect(await gpuSum(gpu, data, false)).toBe(first);
  });

  it('columnSum is exact on integer data, with and without accumulation (edge shapes)', async () => {
    const gpu = await testGpu();
    const rng = new Rng(12);
    const shapes: Array<[number, number]> = [
      [1, 1],
      [1, 7],
      [7, 1],
      [63, 65],
      [64, 64],
      [65, 3],
      [129, 130],
      [1000, 17],
      [20011, 5], // more than 256 blocks of 64 rows: capped, longer blocks
    ];
    for (const [rows, cols] of shapes) {
      const data = integers(rng, rows * cols, 8);
      expect([...(await gpuColumnSum(gpu, data, rows, cols))], `${rows}×${cols}`).toEqual([
        ...ref.columnSum(data, rows, cols),
      ]);
      const previous = integers(rng, cols, 100);
      expect([...(await gpuColumnSum(gpu, data, rows, cols, previous))], `${rows}×${cols} +=`).toEqual([
        ...ref.columnSum(data, rows, cols, previous),
      ]);
    }
  });

  it('columnSum on random floats and shapes (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 1, max: 150 }),
        fc.boolean(),
        fc.integer(),
        async (rows, cols, accumulate, seed) => {
          const rng = new Rng(seed);
          const data = rng.floats(rows * cols);
          const previous = accumulate ? rng.floats(cols) : undefined;
          const actual = await gpuColumnSum(gpu, data, rows, cols, previous);
          // Depth: ≤ ceil(rows / 4) sequential adds per lane, 3 lane adds, ≤ 256 block adds, 1 accumulate.
          const depth = Math.ceil(rows / 4) + 260;
          const magnitude = Math.max(...ref.columnSum(Float64Array.from(data, Math.abs), rows, cols)) + 1;
          assertClose(actual, ref.columnSum(data, rows, cols, previous), {
            rtol: 0,
            atol: depth * UNIT_ROUNDOFF * magnitude,
            label: `columnSum ${rows}×${cols}${accumulate ? ' +=' : ''}`,
          });
        },
      ),
      { numRuns: 30 },
    );
  });

  it('segmentSumSquares over an arena of gradients: per-tensor, global and norm', async () => {
    const gpu = await testGpu();
    const arena = new Arena('test', true);
    const shapes = [[1], [3], [64], [65], [2 * SEGMENT_CHUNK + 7], [16, 3, 3, 3], [10000]];
    shapes.forEach((shape, i) => {
      arena.add(`t${i}.weight`, { officialShape: shape });
    });
    arena.allocate(gpu);
    const rng = new Rng(21);
    const grads = new Float32Array(arena.size);
    for (const entry of arena.entries) grads.set(integers(rng, entry.length, 5), entry.offset);
    gpu.write(arena.whole('grads'), grads);
    const segments = arenaSegments(arena);
    const actual = await gpuSegments(gpu, arena.whole('grads'), segments);
    const expected = ref.segmentSumSquares(grads, segments);
    // Integer data: the sums are exact; the square root is correctly rounded in float32 (≤ 1 ulp of slack).
    expect([...actual.subarray(0, segments.length + 1)]).toEqual([
      ...expected.subarray(0, segments.length + 1),
    ]);
    assertClose([actual[segments.length + 1]], [expected[segments.length + 1]], {
      rtol: 2 * UNIT_ROUNDOFF,
      atol: 0,
    });
    arena.release(gpu);
  });

  it('segmentSumSquares with many (and empty) segments on random floats (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 9000 }), { minLength: 1, maxLength: 700 }),
        fc.integer(),
        async (lengths, seed) => {
          const rng = new Rng(seed);
          // Segments laid out with random gaps (which must not be counted).
          const segments: Segment[] = [];
          let offset = 0;
          for (const length of lengths) {
            offset += rng.int(5);
            segments.push({ offset, length });
            offset += length;
          }
          const data = rng.floats(offset + 3);
          const x = gpu.upload('x', data);
          const actual = await gpuSegments(gpu, x, segments);
          gpu.releaseTensor(x);
          const expected = ref.segmentSumSquares(data, segments);
          // All terms are positive, so the error is relative to the value itself: a chunk of ≤ 16 sequential
          // adds, an 8-level tree, chunks added in order (≤ 3 per 9000) and ≤ 703 segments in the global sum
          // (a ≤ 3-deep sequential loop and an 8-level tree): depth ≤ 40, and √ adds half of that plus 1 ulp.
          assertClose(actual, expected, {
            rtol: 40 * UNIT_ROUNDOFF,
            atol: 1e-30,
            label: `${lengths.length} segments`,
          });
        },
      ),
      { numRuns: 20 },
    );
  });

  it('rejects mismatched sizes with sentences', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor('x', [10]);
    const out = gpu.tensor('norms', [2]);
    expect(() => segmentSumSquares(gpu, { out, x, segments: [{ offset: 0, length: 4 }] })).toThrow(
      /1 segments need 3/,
    );
    expect(() => segmentSumSquares(gpu, { out, x, segments: [] })).toThrow(/at least one segment/);
    expect(() => columnSum(gpu, { out, x, rows: 3, cols: 4 })).toThrow(/fewer than 3 × 4/);
    gpu.releaseTensor(x);
    gpu.releaseTensor(out);
  });
});
