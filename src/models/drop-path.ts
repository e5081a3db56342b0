/**
 * Drop path (stochastic depth) as the official pre-training uses it: timm's ResNet and the official
 * ConvNeXt both give residual block k of N the rate `dropPathRate · k / (N − 1)` (0 for the first block,
 * the configured rate for the last), and drop a whole image's residual branch with that probability,
 * scaling kept branches by 1 / (1 − rate). Training only: evaluation never drops.
 *
 * The per-image decisions are a pure function of (seed, step, block, image), so a run replays exactly and
 * a resumed run draws what the uninterrupted one would have. (The official code draws from torch's global
 * generator instead; that randomness does not carry over to or from it, docs/SCALE-OUT.md.)
 */
import type { BackboneConfig, SparkConfig } from './config';

/** Residual blocks of the backbone in forward order. */
export function residualBlockCount(backbone: BackboneConfig): number {
  return backbone.depths.reduce((a, b) => a + b, 0);
}

/** The drop-path rate of every residual block, forward order (all 0 when the configuration has none). */
export function dropPathRates(config: SparkConfig): number[] {
  const blocks = residualBlockCount(config.backbone);
  const rate = config.dropPathRate ?? 0;
  return Array.from({ length: blocks }, (_, k) => (blocks > 1 ? (rate * k) / (blocks - 1) : 0));
}

/** A 32-bit avalanche mix (the finaliser of a well-known integer hash); exact in JS integer arithmetic. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Uniform in [0, 1) from (seed, step, block, image): each field is mixed in turn. */
export function dropPathUniform(seed: number, step: number, block: number, image: number): number {
  let h = mix32((seed ^ 0x5bd1e995) >>> 0);
  h = mix32((h + (step >>> 0)) >>> 0);
  h = mix32((h + Math.floor(step / 2 ** 32)) >>> 0);
  h = mix32((h + block) >>> 0);
  h = mix32((h + image) >>> 0);
  return h / 2 ** 32;
}

/**
 * Per-block, per-image factors [blocks × stride] (block-major; images past `images` up to `stride` are 1):
 * 0 for a dropped branch, 1 / (1 − rate) for a kept one, 1 where the block's rate is 0.
 */
export function dropPathFactors(
  rates: readonly number[],
  images: number,
  seed: number,
  step: number,
  stride = images,
): Float32Array {
  if (!Number.isInteger(step) || step < 0)
    throw new RangeError(`The drop-path step must be a whole number ≥ 0, got ${step}.`);
  if (images > stride) throw new RangeError(`${images} images do not fit a stride of ${stride}.`);
  const out = new Float32Array(rates.length * stride).fill(1);
  rates.forEach((rate, block) => {
    if (rate <= 0) return;
    const keep = 1 - rate;
    for (let b = 0; b < images; b++)
      out[block * stride + b] = dropPathUniform(seed, step, block, b) < keep ? 1 / keep : 0;
  });
  return out;
}
