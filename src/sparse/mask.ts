/**
 * SparK masks (spark-spec §1): a grid of h×w cells per image, cell side = the encoder's total stride.
 * 1 = visible (active), 0 = masked. Random masks keep exactly `len_keep` cells per image, as the official
 * training does; a mask given by hand (the official visualisation's `active_b1ff`) may keep any number from
 * 1 to all, different for each image. The model sizes its buffers for the all-visible worst case.
 */
import { Rng } from '../util/random';

export interface CellMask {
  batch: number;
  gridH: number;
  gridW: number;
  /** [batch, gridH, gridW], 1 = visible, 0 = masked. */
  cells: Uint8Array;
}

/** Python's round(): halves go to the even neighbour (round(2.5) = 2, round(19.5) = 20). */
export function roundHalfToEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

function checkGrid(batch: number, gridH: number, gridW: number): void {
  if (!Number.isInteger(batch) || batch < 1)
    throw new RangeError(`The batch size must be a positive integer, got ${batch}.`);
  if (!Number.isInteger(gridH) || !Number.isInteger(gridW) || gridH < 1 || gridW < 1)
    throw new RangeError(
      `The mask grid must be at least 1×1 cells, got ${gridH}×${gridW}; the input is smaller than the encoder's stride.`,
    );
}

/** Cells kept visible per image: round_half_to_even(h·w·(1 − ratio)), as the official code computes it. */
export function lenKeep(gridH: number, gridW: number, ratio: number): number {
  checkGrid(1, gridH, gridW);
  if (!(ratio >= 0 && ratio < 1)) throw new RangeError(`The mask ratio must be in [0, 1), got ${ratio}.`);
  const keep = roundHalfToEven(gridH * gridW * (1 - ratio));
  if (keep < 1)
    throw new RangeError(
      `A mask ratio of ${ratio} on a ${gridH}×${gridW} grid keeps no cell visible; lower the ratio or use a larger image.`,
    );
  return keep;
}

/**
 * A random mask with exactly lenKeep visible cells per image, drawn by a partial Fisher–Yates shuffle
 * (a uniform random subset of fixed size, the same distribution as the official argsort of uniforms).
 */
export function randomMask(
  batch: number,
  gridH: number,
  gridW: number,
  ratio: number,
  rngOrSeed: Rng | number,
): CellMask {
  checkGrid(batch, gridH, gridW);
  const keep = lenKeep(gridH, gridW, ratio);
  const rng = typeof rngOrSeed === 'number' ? new Rng(rngOrSeed) : rngOrSeed;
  const cellsPerImage = gridH * gridW;
  const cells = new Uint8Array(batch * cellsPerImage);
  const order = new Int32Array(cellsPerImage);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < cellsPerImage; i++) order[i] = i;
    for (let i = 0; i < keep; i++) {
      const j = i + rng.int(cellsPerImage - i);
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
      cells[b * cellsPerImage + order[i]] = 1;
    }
  }
  return { batch, gridH, gridW, cells };
}

/**
 * An explicit mask given by the user (e.g. the visualisation's hand-drawn one): each image keeps at least one
 * visible cell, and the counts may differ between images.
 */
export function explicitMask(
  batch: number,
  gridH: number,
  gridW: number,
  values: ArrayLike<number | boolean>,
): CellMask {
  checkGrid(batch, gridH, gridW);
  const cellsPerImage = gridH * gridW;
  if (values.length !== batch * cellsPerImage)
    throw new RangeError(
      `The mask has ${values.length} values but a batch of ${batch} on a ${gridH}×${gridW} grid needs ${batch * cellsPerImage}.`,
    );
  const cells = new Uint8Array(values.length);
  for (let b = 0; b < batch; b++) {
    let count = 0;
    for (let i = 0; i < cellsPerImage; i++) {
      const v = Number(values[b * cellsPerImage + i]);
      if (v !== 0 && v !== 1)
        throw new RangeError(
          `Mask values must be 0 (masked) or 1 (visible), got ${values[b * cellsPerImage + i]}.`,
        );
      cells[b * cellsPerImage + i] = v;
      count += v;
    }
    if (count === 0) throw new RangeError(`Image ${b} of the mask has no visible cell; keep at least one.`);
  }
  return { batch, gridH, gridW, cells };
}

/** Visible cells of each image. */
export function visibleCellCounts(mask: CellMask): number[] {
  const perImage = mask.gridH * mask.gridW;
  const counts: number[] = [];
  for (let b = 0; b < mask.batch; b++) {
    let count = 0;
    for (let i = 0; i < perImage; i++) count += mask.cells[b * perImage + i];
    counts.push(count);
  }
  return counts;
}

/**
 * The mask nearest-upsampled to an H×W map at `side` pixels per cell, [batch, H, W] of 0/1 floats: what the
 * dense zero-masked baseline multiplies by (and where it takes BN statistics).
 */
export function expandMask(mask: CellMask, side: number): Float32Array {
  const H = mask.gridH * side;
  const W = mask.gridW * side;
  const out = new Float32Array(mask.batch * H * W);
  for (let b = 0; b < mask.batch; b++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        out[(b * H + y) * W + x] =
          mask.cells[(b * mask.gridH + Math.floor(y / side)) * mask.gridW + Math.floor(x / side)];
  return out;
}
