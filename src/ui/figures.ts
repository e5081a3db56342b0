/**
 * The paper's Figure 3 ("mask pattern vanishing") computed on the CPU with the float64 reference twins: a
 * dense 3×3 conv spreads the visible region into the masked holes, so after a conv or two the mask pattern
 * is gone; a sparse (submanifold) conv only produces outputs at visible sites, so the pattern survives any
 * number of layers. Same experiment as src/sparse/figures.test.ts (which runs the GPU kernel): one channel,
 * every weight 1/9, zero padding 1, and a pixel counts as active after a conv when its output is > 0.
 */
import { denseConvRef, sparseConvRef } from '../reference/sparseConv';
import { explicitMask } from '../sparse/mask';
import { buildSiteSet, type WindowGeometry } from '../sparse/sites';

export const VANISHING_FIGURES = ['spconv1', 'spconv2', 'spconv3'] as const;
export type VanishingFigure = (typeof VANISHING_FIGURES)[number];

export const FIGURE_TITLES: Record<VanishingFigure, string> = {
  spconv1: 'ring',
  spconv2: 'star',
  spconv3: 'rectangles',
};

const GEOMETRY: WindowGeometry = { kernel: 3, stride: 1, padding: 1 };
const AVERAGE_3X3 = new Float64Array(9).fill(1 / 9);

/** A square 0/1 map, row-major; 1 = active (visible) pixel. */
export interface ActivePattern {
  size: number;
  active: Uint8Array;
}

export interface VanishingStage {
  label: string;
  active: Uint8Array;
  masked: number;
}

/**
 * Reads a pattern from RGBA pixels (a decoded PNG): the official figures draw active pixels black, masked
 * ones white.
 */
export function patternFromRgba(rgba: ArrayLike<number>, width: number, height: number): ActivePattern {
  if (width !== height) throw new Error(`A mask pattern must be square, this one is ${width}×${height}.`);
  if (rgba.length !== width * height * 4)
    throw new Error(`Expected ${width * height * 4} RGBA values for ${width}×${height}, got ${rgba.length}.`);
  const active = new Uint8Array(width * height);
  for (let i = 0; i < active.length; i++) active[i] = rgba[i * 4] < 128 ? 1 : 0;
  return { size: width, active };
}

export function countMasked(active: ArrayLike<number>): number {
  let masked = 0;
  for (let i = 0; i < active.length; i++) if (active[i] === 0) masked++;
  return masked;
}

/** One dense 3×3 averaging conv over the whole 0/1 map (the zero-masking baseline), thresholded at > 0. */
export function denseConvActive(pattern: ActivePattern): ActivePattern {
  const { size, active } = pattern;
  const { y } = denseConvRef(active, 1, size, size, 1, AVERAGE_3X3, undefined, GEOMETRY, 1);
  return { size, active: Uint8Array.from(y, (v) => (v > 0 ? 1 : 0)) };
}

/**
 * One sparse 3×3 averaging conv: sites are the active pixels, each carrying 1; outputs exist only at those
 * sites, so the result is scattered back onto an all-masked map.
 */
export function sparseConvActive(pattern: ActivePattern): ActivePattern {
  const { size, active } = pattern;
  const sites = buildSiteSet(explicitMask(1, size, size, active), 1);
  const rows = new Float64Array(sites.rows).fill(1);
  const out = sparseConvRef(rows, sites, sites, AVERAGE_3X3, undefined, GEOMETRY, 1, 1);
  const after = new Uint8Array(size * size);
  for (let r = 0; r < sites.rows; r++)
    if (out[r] > 0) after[sites.coords[r * 3 + 1] * size + sites.coords[r * 3 + 2]] = 1;
  return { size, active: after };
}

/** The figure's columns: the pattern, after one and two dense convs, and after `sparseConvs` sparse convs. */
export function maskVanishing(pattern: ActivePattern, sparseConvs = 2): VanishingStage[] {
  const stage = (label: string, p: ActivePattern): VanishingStage => ({
    label,
    active: p.active,
    masked: countMasked(p.active),
  });
  const dense1 = denseConvActive(pattern);
  const dense2 = denseConvActive(dense1);
  let sparse = pattern;
  for (let i = 0; i < sparseConvs; i++) sparse = sparseConvActive(sparse);
  return [
    stage('input mask', pattern),
    stage('1 dense conv', dense1),
    stage('2 dense convs', dense2),
    stage(`${sparseConvs} sparse convs`, sparse),
  ];
}
