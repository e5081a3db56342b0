/**
 * SparK's Figure 3 ("mask pattern vanishing"): a dense 3×3 conv dilates the visible region and erodes the
 * mask, a sparse (submanifold) conv keeps it exactly. Both run through the gathered sparse-conv kernel: the
 * dense conv is the kernel on an all-visible site set (every pixel a site), the sparse one on the pattern's
 * own sites. Expected counts: tests/fixtures/figures/README.md (measured independently of this code).
 */
import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { sparseConvForward } from '../engine/sparseConv';
import type { Gpu } from '../gpu/runtime';
import { explicitMask } from './mask';
import { SparsePyramid } from './sites';

const FIGURES: [string, number, number, number][] = [
  ['spconv1', 182, 74, 2],
  ['spconv2', 219, 61, 0],
  ['spconv3', 132, 41, 1],
];

/** The PNG as a 0/1 active map: black (0) = active. */
function loadActive(name: string): { active: Uint8Array; size: number } {
  const png = PNG.sync.read(
    readFileSync(new URL(`../../tests/fixtures/figures/${name}.png`, import.meta.url)),
  );
  expect(png.width).toBe(28);
  expect(png.height).toBe(28);
  const active = new Uint8Array(png.width * png.height);
  for (let i = 0; i < active.length; i++) active[i] = png.data[i * 4] < 128 ? 1 : 0;
  return { active, size: png.width };
}

const GEOMETRY = { kernel: 3, stride: 1, padding: 1 };
const WEIGHT = new Float32Array(9).fill(1 / 9);

/** One 3×3 conv (weights 1/9) of a single-channel map given on a site set; returns the output rows. */
async function conv(gpu: Gpu, pyramid: SparsePyramid, values: Float32Array): Promise<Float32Array> {
  const maps = pyramid.neighbours(1, 1, GEOMETRY);
  const x = gpu.upload('x', values);
  const y = gpu.tensor('y', [maps.maps.outputRows]);
  const w = gpu.upload('w', WEIGHT);
  const d = sparseConvForward(gpu, { maps, cin: 1, cout: 1, y, x, weight: w });
  gpu.submit('figure conv', (pass) => d.encode(pass));
  d.release();
  const out = await gpu.read(y);
  for (const t of [x, y, w]) gpu.releaseTensor(t);
  return out;
}

describe('mask-pattern vanishing (paper Figure 3)', () => {
  for (const [name, maskedBefore, afterOneDense, afterTwoDense] of FIGURES) {
    it(`${name}: dense erodes ${maskedBefore} → ${afterOneDense} → ${afterTwoDense}, sparse keeps ${maskedBefore}`, async () => {
      const gpu = await testGpu();
      const { active, size } = loadActive(name);
      const countMasked = (a: ArrayLike<number>) => Array.from(a).filter((v) => v === 0).length;
      expect(countMasked(active)).toBe(maskedBefore);

      // Dense: every pixel is a site (one cell per pixel, all visible); the map's values are the 0/1 mask.
      const everywhere = new SparsePyramid(gpu, explicitMask(1, size, size, new Array(size * size).fill(1)));
      let map = Float32Array.from(active);
      const denseCounts: number[] = [];
      for (let step = 0; step < 2; step++) {
        const out = await conv(gpu, everywhere, map); // rows in raster order: all cells visible, side 1
        map = Float32Array.from(out, (v) => (v > 0 ? 1 : 0));
        denseCounts.push(countMasked(map));
      }
      everywhere.release();
      expect(denseCounts).toEqual([afterOneDense, afterTwoDense]);

      // Sparse: the active pixels are the sites; outputs exist only there, whatever the number of convs.
      const sparse = new SparsePyramid(gpu, explicitMask(1, size, size, active));
      const sites = sparse.scale(1);
      let rows = new Float32Array(sites.rows).fill(1);
      for (let step = 0; step < 3; step++) {
        const out = await conv(gpu, sparse, rows);
        rows = Float32Array.from(out, (v) => (v > 0 ? 1 : 0));
        const activeAfter = new Uint8Array(size * size);
        for (let r = 0; r < sites.rows; r++)
          if (rows[r] === 1) activeAfter[sites.coords[r * 3 + 1] * size + sites.coords[r * 3 + 2]] = 1;
        expect(countMasked(activeAfter)).toBe(maskedBefore);
        expect(activeAfter).toEqual(active);
      }
      sparse.release();
    });
  }
});
