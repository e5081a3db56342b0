import { describe, expect, it } from 'vitest';
import { runAndRead, testGpu } from '../../tests/gpu';
import { assertClose } from '../reference/allclose';
import { remaskRef } from '../reference/remask';
import { Rng } from '../util/random';
import { randomMask } from './mask';
import { remask } from './remask';

describe('remask (dense map × cell mask) vs its float64 twin', () => {
  // Odd channel counts, 1-pixel cells, a single image, non-square grids; the 2-D workgroup split is
  // grid.wgsl's, tested with the elementwise kernels.
  const cases = [
    { batch: 1, gridH: 1, gridW: 2, side: 1, channels: 1 },
    { batch: 2, gridH: 3, gridW: 3, side: 4, channels: 5 },
    { batch: 3, gridH: 2, gridW: 4, side: 2, channels: 7 },
    { batch: 2, gridH: 7, gridW: 7, side: 8, channels: 3 },
  ];
  for (const c of cases) {
    it(`batch ${c.batch}, ${c.gridH}×${c.gridW} cells of ${c.side}², C=${c.channels}`, async () => {
      const gpu = await testGpu();
      const mask = randomMask(c.batch, c.gridH, c.gridW, 0.5, 11);
      const shape = {
        batch: c.batch,
        height: c.gridH * c.side,
        width: c.gridW * c.side,
        channels: c.channels,
        gridH: c.gridH,
        gridW: c.gridW,
      };
      const a = new Rng(5).floats(shape.batch * shape.height * shape.width * shape.channels);
      const ta = gpu.upload('a', a);
      const cells = gpu.upload('cells', Uint32Array.from(mask.cells));
      const out = gpu.tensor('out', [a.length]);
      const got = await runAndRead(gpu, 'remask', [remask(gpu, shape, out, ta, cells)], out);
      assertClose(got, remaskRef(shape, a, mask.cells), { rtol: 0, atol: 0, label: 'remask' });
      // Masked sites are exactly 0 and visible ones exactly the input.
      const zeros = got.filter((v) => v === 0).length;
      const visible = mask.cells.reduce((s, v) => s + v, 0);
      expect(zeros).toBe((mask.cells.length - visible) * c.side * c.side * c.channels);
      for (const t of [ta, cells, out]) gpu.releaseTensor(t);
    });
  }

  it('a NaN at a masked site stays NaN (a multiply, as in PyTorch), and bad shapes are refused', async () => {
    const gpu = await testGpu();
    const shape = { batch: 1, height: 2, width: 2, channels: 1, gridH: 2, gridW: 2 };
    const a = gpu.upload('a', Float32Array.of(Number.NaN, 1, 2, 3));
    const cells = gpu.upload('cells', Uint32Array.of(0, 1, 0, 1));
    const out = gpu.tensor('out', [4]);
    const got = await runAndRead(gpu, 'remask', [remask(gpu, shape, out, a, cells)], out);
    expect(Number.isNaN(got[0])).toBe(true);
    expect(Array.from(got.subarray(1))).toEqual([1, 0, 3]);
    expect(() => remask(gpu, { ...shape, gridH: 3 }, out, a, cells)).toThrow(/square cells/);
    expect(() => remask(gpu, { ...shape, channels: 2 }, out, a, cells)).toThrow(/elements/);
    for (const t of [a, cells, out]) gpu.releaseTensor(t);
  });
});
