/**
 * Nested masks for the lab's watch set: each image gets one seeded order of its mask cells, and at ratio r
 * the first len_keep(r) cells of that order are visible. Two runs at different ratios therefore see the same
 * pixels where they overlap, and a lower ratio always shows a superset of what a higher one shows. Pure
 * CPU code (the page draws its instant mask preview with it; the worker evaluates on the same masks).
 * The generator is a local mulberry32 so the orders never change when other modules' PRNGs do.
 */
import { lenKeep } from '../sparse/mask';

/** The seed of every watch-set cell order (fixed: links and kept runs rely on the same masks). */
export const WATCH_ORDER_SEED = 0x0a7c11;

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The cell order of image `imageIndex` (a permutation of 0..cells-1, uniform by Fisher–Yates); the same
 * (seed, index, cells) always gives the same order.
 */
export function cellOrder(imageIndex: number, cells: number, seed = WATCH_ORDER_SEED): Int32Array {
  if (!Number.isInteger(cells) || cells < 1)
    throw new RangeError(`A mask needs at least one cell, got ${cells}.`);
  const random = mulberry32((seed ^ Math.imul(imageIndex + 1, 0x9e3779b1)) >>> 0);
  const order = new Int32Array(cells);
  for (let i = 0; i < cells; i++) order[i] = i;
  for (let i = cells - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** Visible cells at `ratio` on a grid×grid mask (the engine's len_keep; throws its sentence when none). */
export function nestedVisibleCount(grid: number, ratio: number): number {
  return lenKeep(grid, grid, ratio);
}

/**
 * Masks [images, grid, grid] (1 = visible) for watch-set images firstIndex.. at `ratio`: the first
 * len_keep(ratio) cells of each image's order are visible.
 */
export function nestedMasks(grid: number, ratio: number, images: number, firstIndex = 0): Uint8Array {
  const cells = grid * grid;
  const keep = nestedVisibleCount(grid, ratio);
  const out = new Uint8Array(images * cells);
  for (let b = 0; b < images; b++) {
    const order = cellOrder(firstIndex + b, cells);
    for (let i = 0; i < keep; i++) out[b * cells + order[i]] = 1;
  }
  return out;
}

/** Number of visible cells of image `index` in a [images, cells] mask. */
export function visibleInImage(mask: Uint8Array, cells: number, index: number): number {
  let count = 0;
  for (let i = index * cells; i < (index + 1) * cells; i++) count += mask[i];
  return count;
}
