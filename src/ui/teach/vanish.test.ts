import { describe, expect, it } from 'vitest';
import { testGpu } from '../../../tests/gpu';
import { countMasked } from '../figures';
import { vanishOnCpu, vanishOnGpu } from './vanish';

/** 8×8, all visible except a 1-px line (row 3, columns 1..6) and a 2×2 block at (6,6). */
function drawn(): { size: number; active: Uint8Array } {
  const size = 8;
  const active = new Uint8Array(size * size).fill(1);
  for (let x = 1; x <= 6; x++) active[3 * size + x] = 0;
  for (const [y, x] of [
    [6, 6],
    [6, 7],
    [7, 6],
    [7, 7],
  ])
    active[y * size + x] = 0;
  return { size, active };
}

describe('Figure 3 for a drawn mask', () => {
  it('CPU: one dense conv closes the line and shrinks the block to its corner pixel; sparse keeps all 10', () => {
    const pattern = drawn();
    const result = vanishOnCpu(pattern, 2);
    expect(countMasked(pattern.active)).toBe(10);
    // A masked pixel stays masked only if its whole 3×3 window (inside the image) is masked: only (7,7).
    expect(countMasked(result.dense[0])).toBe(1);
    expect(countMasked(result.dense[1])).toBe(0);
    expect(result.sparse).toEqual(pattern.active);
    expect(() => vanishOnCpu(pattern, 5)).toThrow(/1 to 4/);
  });

  it('an all-masked drawing stays all masked under sparse convs and under dense ones', () => {
    const result = vanishOnCpu({ size: 4, active: new Uint8Array(16) }, 3);
    expect(countMasked(result.sparse)).toBe(16);
    expect(countMasked(result.dense[2])).toBe(16);
  });

  it('GPU (the engine kernel) agrees with the float64 twin at every depth', async () => {
    const gpu = await testGpu();
    const pattern = drawn();
    for (const depth of [1, 4]) {
      const onGpu = await vanishOnGpu(gpu, pattern, depth);
      const onCpu = vanishOnCpu(pattern, depth);
      expect(onGpu.backend).toBe('gpu');
      expect(onGpu.dense).toEqual(onCpu.dense);
      expect(onGpu.sparse).toEqual(onCpu.sparse);
    }
  });
});
