/**
 * The arithmetic behind the teaching panels, kept free of React and the GPU so it can be checked on its own:
 * nested display masks, active sites per encoder scale (Figure 2), the encoder's cost dense vs sparse, and a
 * reconstruction view that does not use the hidden patches' own statistics.
 */
import { featureStrides, gridSize, type SparkConfig, totalStride } from '../../models/config';
import { lenKeep } from '../../sparse/mask';
import { countFlops } from '../../train/flops';

/** A small seeded generator (mulberry32) for display masks; the training masks use the engine's own. */
function seeded(seed: number): () => number {
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded permutation of the cells 0..cells−1: the order in which cells become visible. */
export function cellOrder(cells: number, seed: number): Int32Array {
  const order = Int32Array.from({ length: cells }, (_, i) => i);
  const next = seeded(seed);
  for (let i = cells - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/**
 * The first `keep` cells of `order` visible (1), the rest masked (0). Masks drawn from one order are nested:
 * a lower ratio shows a superset of the cells a higher one shows, so two ratios compare the same pixels.
 */
export function nestedMask(order: Int32Array, keep: number): Uint8Array {
  if (!Number.isInteger(keep) || keep < 0 || keep > order.length)
    throw new RangeError(`Cannot keep ${keep} of ${order.length} cells visible.`);
  const cells = new Uint8Array(order.length);
  for (let i = 0; i < keep; i++) cells[order[i]] = 1;
  return cells;
}

/** One display mask per image ([images, g, g], 1 = visible) at this ratio, from per-image seeded orders. */
export function displayMasks(images: number, grid: number, ratio: number, seed = 0): Uint8Array {
  const keep = lenKeep(grid, grid, ratio);
  const cells = grid * grid;
  const out = new Uint8Array(images * cells);
  for (let b = 0; b < images; b++)
    out.set(nestedMask(cellOrder(cells, seed * 7919 + b + 1), keep), b * cells);
  return out;
}

export interface ScaleRows {
  /** Stride of this encoder scale relative to the input. */
  stride: number;
  /** Feature-map side at this scale. */
  side: number;
  /** Pixels per mask-cell side at this scale (total stride / stride). */
  cellSide: number;
  /** Active sites (compacted rows) the sparse encoder computes at this scale. */
  rows: number;
  /** Positions a dense encoder computes at this scale. */
  denseRows: number;
}

/** Active sites at every encoder scale for `visibleCells` visible cells over `images` images. */
export function activeRowsPerScale(config: SparkConfig, visibleCells: number, images = 1): ScaleRows[] {
  const r = totalStride(config.backbone);
  const g = gridSize(config);
  return featureStrides(config.backbone).map((stride) => {
    const cellSide = r / stride;
    return {
      stride,
      side: config.inputSize / stride,
      cellSide,
      rows: images * visibleCells * cellSide * cellSide,
      denseRows: images * g * g * cellSide * cellSide,
    };
  });
}

/** Floats of every conv output in the encoder for one dense image: what the backward keeps. */
export function encoderActivationFloats(config: SparkConfig): number {
  const b = config.backbone;
  const S = config.inputSize;
  let floats = 0;
  const add = (side: number, channels: number) => {
    floats += side * side * channels;
  };
  if (b.family === 'resnet') {
    let side = S / b.stemStride;
    add(side, b.stemWidth);
    if (b.maxpool) side /= 2;
    let cin = b.stemWidth;
    const expansion = b.block === 'bottleneck' ? 4 : 1;
    b.widths.forEach((w, stage) => {
      for (let i = 0; i < b.depths[stage]; i++) {
        const outSide = side / (i === 0 ? b.stageStrides[stage] : 1);
        const cout = w * expansion;
        if (b.block === 'basic') {
          add(outSide, w);
          add(outSide, w);
        } else {
          add(side, w);
          add(outSide, w);
          add(outSide, cout);
        }
        if (outSide !== side || cin !== cout) add(outSide, cout);
        side = outSide;
        cin = cout;
      }
    });
  } else {
    let side = S / 4;
    add(side, b.dims[0]);
    b.dims.forEach((d, stage) => {
      if (stage > 0) {
        side /= 2;
        add(side, d);
      }
      for (let i = 0; i < b.depths[stage]; i++) {
        add(side, d);
        add(side, 4 * d);
        add(side, d);
      }
    });
  }
  return floats;
}

export interface EncoderCost {
  /** Encoder FLOPs per image, dense (every position) and sparse (visible sites only). */
  flopsDense: number;
  flopsSparse: number;
  /** flopsSparse / flopsDense: the data-encoder-ratio of the cost meter. */
  ratio: number;
  /** Encoder activations kept for the backward, bytes for a batch (float32). */
  activationDenseBytes: number;
  activationSparseBytes: number;
  visibleFraction: number;
}

/** The encoder's cost at a mask ratio, dense zero-masking vs SparK's sparse encoder (from the layer shapes). */
export function encoderCost(config: SparkConfig, maskRatio: number, batch: number): EncoderCost {
  const flops = countFlops({ ...config, maskRatio, encoder: 'sparse' });
  const dense = encoderActivationFloats(config) * 4 * batch;
  return {
    flopsDense: flops.encoderDense,
    flopsSparse: flops.encoderMasked,
    ratio: flops.encoderMasked / flops.encoderDense,
    activationDenseBytes: dense,
    activationSparseBytes: dense * flops.visibleFraction,
    visibleFraction: flops.visibleFraction,
  };
}

export interface ReconstructionInputs {
  /** NCHW [images, 3, S, S], normalised units. */
  input: Float32Array;
  /** The decoder output, NCHW, in the loss's target units. */
  prediction: Float32Array;
  /** [images, g, g], 1 = visible. */
  mask: Uint8Array | ArrayLike<number>;
  images: number;
  size: number;
  grid: number;
  /** True when the target was normalised per patch (the prediction is then in per-patch units). */
  patchNormalizedTarget: boolean;
}

/**
 * The reconstruction without peeking: visible pixels from the input; a masked patch's prediction is
 * de-normalised with the mean and spread of the visible pixels around it (its visible 8-neighbour cells, or
 * every visible cell of the image when none touches it), never with the hidden patch's own statistics, which
 * the official view uses. Statistics as the loss computes them: over the patch's pixels and channels,
 * unbiased variance + 1e-6 under the square root.
 */
export function noLeakComposite(r: ReconstructionInputs): Float32Array {
  const { images, size, grid } = r;
  const patch = size / grid;
  if (!Number.isInteger(patch)) throw new Error(`A ${grid}×${grid} grid does not divide ${size} px.`);
  const plane = size * size;
  const out = new Float32Array(r.input);
  const stats = (b: number, cells: number[]) => {
    let sum = 0;
    let n = 0;
    for (const cell of cells) {
      const cy = Math.floor(cell / grid);
      const cx = cell % grid;
      for (let c = 0; c < 3; c++)
        for (let y = cy * patch; y < (cy + 1) * patch; y++)
          for (let x = cx * patch; x < (cx + 1) * patch; x++) {
            sum += r.input[(b * 3 + c) * plane + y * size + x];
            n++;
          }
    }
    const mean = sum / n;
    let sq = 0;
    for (const cell of cells) {
      const cy = Math.floor(cell / grid);
      const cx = cell % grid;
      for (let c = 0; c < 3; c++)
        for (let y = cy * patch; y < (cy + 1) * patch; y++)
          for (let x = cx * patch; x < (cx + 1) * patch; x++)
            sq += (r.input[(b * 3 + c) * plane + y * size + x] - mean) ** 2;
    }
    return { mean, std: Math.sqrt(sq / Math.max(1, n - 1) + 1e-6) };
  };
  for (let b = 0; b < images; b++) {
    const visible = (cy: number, cx: number) =>
      cy >= 0 && cx >= 0 && cy < grid && cx < grid && r.mask[(b * grid + cy) * grid + cx] !== 0;
    const allVisible: number[] = [];
    for (let i = 0; i < grid * grid; i++) if (r.mask[b * grid * grid + i] !== 0) allVisible.push(i);
    for (let cy = 0; cy < grid; cy++)
      for (let cx = 0; cx < grid; cx++) {
        if (visible(cy, cx)) continue;
        let mean = 0;
        let std = 1;
        if (r.patchNormalizedTarget) {
          const around: number[] = [];
          for (let dy = -1; dy <= 1; dy++)
            for (let dx = -1; dx <= 1; dx++)
              if (visible(cy + dy, cx + dx)) around.push((cy + dy) * grid + cx + dx);
          const source = around.length > 0 ? around : allVisible;
          if (source.length > 0) ({ mean, std } = stats(b, source));
        }
        for (let c = 0; c < 3; c++)
          for (let y = cy * patch; y < (cy + 1) * patch; y++)
            for (let x = cx * patch; x < (cx + 1) * patch; x++) {
              const i = (b * 3 + c) * plane + y * size + x;
              out[i] = r.prediction[i] * std + mean;
            }
      }
  }
  return out;
}
