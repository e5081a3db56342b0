/**
 * Pixel histograms behind the paper's Figure 1 argument: zero-masking (filling masked pixels with 0 and
 * running a dense conv) shifts the input distribution — a spike at 0 — while SparK's sparse encoder only ever
 * sees the visible pixels, whose distribution matches the original. Three histograms over the same bins and
 * the KL divergences of each masked view from the original.
 */

export interface MaskGrid {
  /** Per image, height × width cells, row-major; non-zero = visible (SparK's "active"). */
  data: ArrayLike<number>;
  /** Cells per side; each cell covers (S / height) × (S / width) pixels. */
  height: number;
  width: number;
}

export interface HistogramOptions {
  bins: number;
  /** Value range of the bins; values outside land in the first or last bin. */
  range: readonly [number, number];
  /** Only this channel (0–2); all channels pooled when absent. */
  channel?: number;
  /**
   * Pseudo-count added to every bin before the KL divergence (Jeffreys' ½), so an empty bin gives a large
   * but finite divergence instead of infinity.
   */
  pseudoCount: number;
}

/**
 * 64 bins over [−2.2, 2.7]: an ImageNet-normalised pixel lies in [−0.485/0.229, (1−0.406)/0.225] ≈
 * [−2.12, 2.64], and 0 (the zero-mask fill) falls inside a bin near the middle.
 */
export const DEFAULT_HISTOGRAM: HistogramOptions = { bins: 64, range: [-2.2, 2.7], pseudoCount: 0.5 };

export interface PixelHistograms {
  /** bins + 1 bin edges. */
  edges: Float64Array;
  /** Counts per bin. */
  original: Float64Array;
  zeroMasked: Float64Array;
  visibleOnly: Float64Array;
  /** KL(original ‖ zero-masked) in nats. */
  klZeroMasked: number;
  /** KL(original ‖ visible-only) in nats. */
  klVisibleOnly: number;
  /** Fraction of pixels visible. */
  visibleFraction: number;
}

export function binIndex(value: number, options: HistogramOptions): number {
  const [lo, hi] = options.range;
  const i = Math.floor(((value - lo) / (hi - lo)) * options.bins);
  return Math.min(options.bins - 1, Math.max(0, i));
}

/** KL(p ‖ q) in nats between two count vectors, each smoothed by the pseudo-count and normalised. */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>, pseudoCount: number): number {
  if (p.length !== q.length)
    throw new Error(`Histograms have ${p.length} and ${q.length} bins; they must match.`);
  let pTotal = 0;
  let qTotal = 0;
  for (let i = 0; i < p.length; i++) {
    pTotal += p[i] + pseudoCount;
    qTotal += q[i] + pseudoCount;
  }
  if (pTotal === 0 || qTotal === 0) return 0;
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = (p[i] + pseudoCount) / pTotal;
    const qi = (q[i] + pseudoCount) / qTotal;
    if (pi > 0) kl += pi * Math.log(pi / qi);
  }
  return kl;
}

/**
 * Histograms of an NCHW batch [B, 3, S, S] (normalised values) under a per-image cell mask [B, h, w].
 * Zero-masked: every pixel, masked ones counted as 0. Visible-only: only visible pixels.
 */
export function pixelHistograms(
  images: Float32Array,
  batch: number,
  size: number,
  mask: MaskGrid,
  options: Partial<HistogramOptions> = {},
): PixelHistograms {
  const opts: HistogramOptions = { ...DEFAULT_HISTOGRAM, ...options };
  const plane = size * size;
  if (images.length !== batch * 3 * plane) {
    throw new Error(`The image batch has ${images.length} values, not ${batch}×3×${size}×${size}.`);
  }
  if (mask.data.length !== batch * mask.height * mask.width) {
    throw new Error(`The mask has ${mask.data.length} cells, not ${batch}×${mask.height}×${mask.width}.`);
  }
  if (size % mask.height !== 0 || size % mask.width !== 0) {
    throw new Error(`A ${mask.height}×${mask.width} mask grid does not divide a ${size}-px image evenly.`);
  }
  if (!(opts.bins >= 1) || !(opts.range[1] > opts.range[0])) {
    throw new Error('A histogram needs at least one bin and a range whose upper end exceeds its lower end.');
  }
  const cellH = size / mask.height;
  const cellW = size / mask.width;
  const original = new Float64Array(opts.bins);
  const zeroMasked = new Float64Array(opts.bins);
  const visibleOnly = new Float64Array(opts.bins);
  const zeroBin = binIndex(0, opts);
  const channels = opts.channel === undefined ? [0, 1, 2] : [opts.channel];
  let visible = 0;
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const cell =
          b * mask.height * mask.width + Math.floor(y / cellH) * mask.width + Math.floor(x / cellW);
        const isVisible = mask.data[cell] !== 0;
        if (isVisible) visible++;
        for (const c of channels) {
          const bin = binIndex(images[(b * 3 + c) * plane + y * size + x], opts);
          original[bin]++;
          if (isVisible) {
            zeroMasked[bin]++;
            visibleOnly[bin]++;
          } else {
            zeroMasked[zeroBin]++;
          }
        }
      }
    }
  }
  const edges = new Float64Array(opts.bins + 1);
  for (let i = 0; i <= opts.bins; i++)
    edges[i] = opts.range[0] + ((opts.range[1] - opts.range[0]) * i) / opts.bins;
  return {
    edges,
    original,
    zeroMasked,
    visibleOnly,
    klZeroMasked: klDivergence(original, zeroMasked, opts.pseudoCount),
    klVisibleOnly: klDivergence(original, visibleOnly, opts.pseudoCount),
    visibleFraction: visible / (batch * plane),
  };
}
