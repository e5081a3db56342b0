import { describe, expect, it } from 'vitest';
import { testGpu } from '../../../tests/gpu';
import { randomMask } from '../../sparse/mask';
import { buildSiteSet, packPositions } from '../../sparse/sites';
import { ModelSites } from './sites';

describe('ModelSites.scale (what sparse depthwise convs walk)', () => {
  it('holds the grid index and packed positions of the current mask, rewritten in place by update (side 4, 2, 1)', async () => {
    const gpu = await testGpu();
    const first = randomMask(2, 3, 3, 0.5, 1);
    const second = randomMask(2, 3, 3, 0.5, 2);
    expect(Array.from(second.cells)).not.toEqual(Array.from(first.cells));
    const sites = new ModelSites(gpu, first, 'sites-test');
    const scales = [4, 2, 1].map((side) => sites.scale(side));
    for (const [mask, label] of [
      [first, 'first mask'],
      [second, 'after update'],
    ] as const) {
      if (mask === second) sites.update(second);
      for (const scale of scales) {
        // Expected values come from the CPU site builder, not from ModelSites.
        const expected = buildSiteSet(mask, scale.sites.side);
        expect(scale.sites.rows, label).toBe(expected.rows);
        expect(Array.from(await gpu.readI32(scale.gridIndex)), `${label} grid ${expected.side}`).toEqual(
          Array.from(expected.gridIndex),
        );
        expect(Array.from(await gpu.readU32(scale.positions)), `${label} positions ${expected.side}`).toEqual(
          Array.from(packPositions(expected)),
        );
      }
    }
    // The same tensors are handed out again, so prepared dispatches stay bound to them.
    expect(sites.scale(2)).toBe(scales[1]);
    sites.release();
  });
});
