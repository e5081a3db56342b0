/**
 * Figure 3 for any drawn mask and depth: the mask after 1..depth dense 3×3 convolutions and after `depth`
 * sparse ones. On the GPU it runs the engine's own gathered sparse-conv kernel (the dense conv is the same
 * kernel on an all-visible site set, as in src/sparse/figures.test.ts); without WebGPU it runs the float64
 * CPU twins (src/ui/figures.ts). Same experiment as the paper: one channel, weights 1/9, zero padding 1, a
 * pixel is active after a conv when its output is > 0.
 */

import { sparseConvForward } from '../../engine/sparseConv';
import { acquireDevice } from '../../gpu/device';
import { Gpu } from '../../gpu/runtime';
import { explicitMask } from '../../sparse/mask';
import { SparsePyramid } from '../../sparse/sites';
import { type ActivePattern, countMasked, denseConvActive, sparseConvActive } from '../figures';

export type VanishBackend = 'gpu' | 'cpu';

export interface VanishResult {
  backend: VanishBackend;
  /** The mask after 1, 2, … depth dense convs (1 = active). */
  dense: Uint8Array[];
  /** After `depth` sparse convs. */
  sparse: Uint8Array;
}

export const MAX_DEPTH = 4;

function checkDepth(depth: number): void {
  if (!Number.isInteger(depth) || depth < 1 || depth > MAX_DEPTH)
    throw new RangeError(`The depth must be 1 to ${MAX_DEPTH} convolutions, got ${depth}.`);
}

export function vanishOnCpu(pattern: ActivePattern, depth: number): VanishResult {
  checkDepth(depth);
  const dense: Uint8Array[] = [];
  let d = pattern;
  for (let i = 0; i < depth; i++) {
    d = denseConvActive(d);
    dense.push(d.active);
  }
  // With nothing visible there are no sites: the sparse conv has nothing to compute and all stays masked.
  let s = pattern;
  if (countMasked(pattern.active) < pattern.active.length)
    for (let i = 0; i < depth; i++) s = sparseConvActive(s);
  return { backend: 'cpu', dense, sparse: s.active };
}

const GEOMETRY = { kernel: 3, stride: 1, padding: 1 };

let gpuOnce: Promise<Gpu | undefined> | undefined;

/** A device for the figures on this page (the worker has its own); undefined when WebGPU cannot start. */
export function figureGpu(): Promise<Gpu | undefined> {
  gpuOnce ??= (async () => {
    if (typeof navigator === 'undefined' || !navigator.gpu) return undefined;
    try {
      return new Gpu(await acquireDevice(navigator.gpu, { host: 'browser' }), 'browser');
    } catch {
      return undefined;
    }
  })();
  return gpuOnce;
}

async function convRows(gpu: Gpu, pyramid: SparsePyramid, values: Float32Array): Promise<Float32Array> {
  const maps = pyramid.neighbours(1, 1, GEOMETRY);
  const x = gpu.upload('figure.x', values);
  const y = gpu.tensor('figure.y', [maps.maps.outputRows]);
  const w = gpu.upload('figure.w', new Float32Array(9).fill(1 / 9));
  try {
    const dispatch = sparseConvForward(gpu, { maps, cin: 1, cout: 1, y, x, weight: w });
    gpu.submit('figure conv', (pass) => dispatch.encode(pass));
    dispatch.release();
    return await gpu.read(y);
  } finally {
    for (const t of [x, y, w]) gpu.releaseTensor(t);
  }
}

export async function vanishOnGpu(gpu: Gpu, pattern: ActivePattern, depth: number): Promise<VanishResult> {
  checkDepth(depth);
  const { size, active } = pattern;
  const dense: Uint8Array[] = [];
  const everywhere = new SparsePyramid(gpu, explicitMask(1, size, size, new Uint8Array(size * size).fill(1)));
  try {
    // Every pixel is a site, in raster order: the rows are the dense map.
    let map = Float32Array.from(active);
    for (let i = 0; i < depth; i++) {
      const out = await convRows(gpu, everywhere, map);
      map = Float32Array.from(out, (v) => (v > 0 ? 1 : 0));
      dense.push(Uint8Array.from(map));
    }
  } finally {
    everywhere.release();
  }
  const sparse = new Uint8Array(size * size);
  if (countMasked(active) === active.length) return { backend: 'gpu', dense, sparse };
  const pyramid = new SparsePyramid(gpu, explicitMask(1, size, size, active));
  try {
    const sites = pyramid.scale(1);
    let rows = new Float32Array(sites.rows).fill(1);
    for (let i = 0; i < depth; i++) {
      const out = await convRows(gpu, pyramid, rows);
      rows = Float32Array.from(out, (v) => (v > 0 ? 1 : 0));
    }
    for (let r = 0; r < sites.rows; r++)
      if (rows[r] === 1) sparse[sites.coords[r * 3 + 1] * size + sites.coords[r * 3 + 2]] = 1;
  } finally {
    pyramid.release();
  }
  return { backend: 'gpu', dense, sparse };
}

/** On the GPU when this page can have one, otherwise on the CPU; the result says which ran. */
export async function vanish(pattern: ActivePattern, depth: number): Promise<VanishResult> {
  const gpu = await figureGpu();
  if (gpu && !gpu.isLost) {
    try {
      return await vanishOnGpu(gpu, pattern, depth);
    } catch {
      // A GPU failure here only costs speed: the CPU twin computes the same figure.
    }
  }
  return vanishOnCpu(pattern, depth);
}
