import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runAndRead, testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import * as ref from '../reference/transpose';
import { Rng } from '../util/random';
import { nchwToNhwc, nhwcToNchw, transpose2d } from './transpose';

// A transpose moves bits: results must equal the twin exactly.
async function checkTranspose(
  gpu: Gpu,
  batch: number,
  rows: number,
  cols: number,
  seed: number,
): Promise<void> {
  const data = new Rng(seed).floats(batch * rows * cols);
  const x = gpu.upload('x', data);
  const out = gpu.upload('out', new Float32Array(batch * rows * cols).fill(Number.NaN));
  const actual = await runAndRead(gpu, 'transpose', [transpose2d(gpu, { out, x, rows, cols, batch })], out);
  expect([...actual], `[${batch}, ${rows}, ${cols}]`).toEqual([...ref.transpose2d(data, rows, cols, batch)]);
  gpu.releaseTensor(x);
  gpu.releaseTensor(out);
}

describe('transpose vs float64 twin', () => {
  it('twins agree with each other: NCHW→NHWC is a batched (C, HW) transpose and the round trip is identity', () => {
    const data = new Rng(1).floats(2 * 3 * 4 * 5);
    const nhwc = ref.nchwToNhwc(data, 2, 3, 4, 5);
    expect([...nhwc]).toEqual([...ref.transpose2d(data, 3, 20, 2)]);
    expect([...ref.nhwcToNchw(nhwc, 2, 3, 4, 5)]).toEqual([...data]);
    // One element by hand: x[n=1, c=2, y=3, x=4] lands at [1, 3, 4, 2].
    expect(nhwc[((1 * 4 + 3) * 5 + 4) * 3 + 2]).toBe(data[((1 * 3 + 2) * 4 + 3) * 5 + 4]);
  });

  it('edge shapes: 1, primes, tile boundaries (31, 32, 33), batches', async () => {
    const gpu = await testGpu();
    const shapes: Array<[number, number, number]> = [
      [1, 1, 1],
      [1, 1, 7],
      [1, 7, 1],
      [1, 31, 33],
      [1, 32, 32],
      [3, 33, 31],
      [2, 64, 65],
      [5, 3, 97],
      [1, 257, 129],
    ];
    let seed = 1;
    for (const [b, r, c] of shapes) await checkTranspose(gpu, b, r, c, seed++);
  });

  it('random shapes (property)', async () => {
    const gpu = await testGpu();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 120 }),
        fc.integer({ min: 1, max: 120 }),
        fc.integer(),
        async (b, r, c, seed) => checkTranspose(gpu, b, r, c, seed),
      ),
      { numRuns: 40 },
    );
  });

  it('NCHW → NHWC → NCHW on images (3 channels, odd sizes)', async () => {
    const gpu = await testGpu();
    for (const [n, c, h, w] of [
      [2, 3, 17, 19],
      [1, 1, 5, 5],
      [3, 5, 8, 7],
    ]) {
      const data = new Rng(n * 100 + c).floats(n * c * h * w);
      const x = gpu.upload('x', data);
      const mid = gpu.tensor('nhwc', [n, h, w, c]);
      const back = gpu.tensor('nchw', [n, c, h, w]);
      const nhwc = await runAndRead(gpu, 'to-nhwc', [nchwToNhwc(gpu, { out: mid, x, n, c, h, w })], mid);
      expect([...nhwc]).toEqual([...ref.nchwToNhwc(data, n, c, h, w)]);
      const nchw = await runAndRead(
        gpu,
        'to-nchw',
        [nhwcToNchw(gpu, { out: back, x: mid, n, c, h, w })],
        back,
      );
      expect([...nchw]).toEqual([...data]);
      for (const t of [x, mid, back]) gpu.releaseTensor(t);
    }
  });

  it('refuses to run in place, with a sentence', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor('x', [16]);
    expect(() => transpose2d(gpu, { out: x, x, rows: 4, cols: 4 })).toThrow(/cannot bind one buffer/);
    gpu.releaseTensor(x);
  });
});
