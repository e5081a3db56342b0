/**
 * Parity fixtures of any configuration, made by the float64 reference (src/reference/spark) instead of the
 * official PyTorch code: the same format and the same comparison as the official fixtures, so the GPU model
 * can be checked on configurations the four official files do not cover (other sizes, strides, depths, mask
 * grids, ablation switches). The reference itself passes the official fixtures, which is what makes it a
 * trustworthy oracle here. Used by tests and benchmarks, not by the app.
 */
import type { NamedArray, ParityFixture } from '../io/fixtures';
import { lambStep } from '../reference/spark/lamb';
import { SparkReference, type SparkState } from '../reference/spark/model';
import { Tensor } from '../reference/spark/tape';
import { explicitMask, randomMask } from '../sparse/mask';
import { Rng } from '../util/random';
import { type LambConfig, type SparkConfig, totalStride, validateSparkConfig } from './config';
import { sparkState } from './official-names';

/**
 * Weights away from their defaults so every parameter matters (zero-init γ and 1e-6 layer scales would hide
 * whole branches), convolution weights scaled by 1/√fan_in so activations stay O(1), positive running
 * variances, a non-zero batch counter.
 */
export function randomSparkState(config: SparkConfig, seed: number): SparkState {
  const rng = new Rng(seed);
  const state: SparkState = new Map();
  for (const e of sparkState(config)) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    let v: Float32Array;
    if (e.name.endsWith('num_batches_tracked')) v = Float32Array.of(3);
    else if (e.name.endsWith('running_var')) v = rng.floats(n, 0.5, 1.5);
    else if (e.name.endsWith('running_mean')) v = rng.normals(n, 0.2);
    else if (e.name.endsWith('gamma') || (e.shape.length === 1 && e.name.endsWith('.weight')))
      v = rng.floats(n, 0.5, 1.5);
    else if (e.name.endsWith('.bias')) v = rng.normals(n, 0.1);
    else if (e.name.startsWith('mask_tokens.')) v = rng.normals(n, 0.5);
    else {
      // conv [O, I, k, k] / Linear [O, I]; ConvTranspose [I, O, k, k] reads I·k²/4 inputs per output at s2.
      const fanIn = e.layout === 'convT' ? e.shape[0] * 4 : e.shape.slice(1).reduce((a, b) => a * b, 1);
      v = rng.normals(n, 1 / Math.sqrt(fanIn));
    }
    // Round through float32: the GPU holds float32 weights, and the oracle must see the same values.
    state.set(e.name, Float64Array.from(v));
  }
  return state;
}

const named = (shape: number[], data: ArrayLike<number>): NamedArray => ({
  shape,
  data: Float64Array.from(data),
});

export interface ReferenceFixtureOptions {
  batch: number;
  seed: number;
  lamb?: LambConfig;
  state?: SparkState;
  /** [batch, g, g] cell mask (1 = visible, any count per image); a random len_keep mask when absent. */
  cells?: Uint8Array;
}

/** Runs the float64 reference (eval, train + backward, one LAMB step) and packages it as a parity fixture. */
export function referenceFixture(config: SparkConfig, options: ReferenceFixtureOptions): ParityFixture {
  validateSparkConfig(config);
  const { batch, seed } = options;
  const lamb: LambConfig = options.lamb ?? {
    lr: 0.01,
    weightDecay: 0.04,
    betas: [0.9, 0.95],
    maxGradNorm: 5,
    eps: 1e-6,
  };
  const S = config.inputSize;
  const grid = S / totalStride(config.backbone);
  const rng = new Rng(seed * 7919 + 1);
  const input = Float64Array.from(rng.normals(batch * 3 * S * S));
  const mask = options.cells
    ? explicitMask(batch, grid, grid, options.cells)
    : randomMask(batch, grid, grid, config.maskRatio, rng);
  const state = options.state ?? randomSparkState(config, seed);

  const model = new SparkReference(config, state);
  const inputTensor = new Tensor([batch, 3, S, S], input, 'input');
  const evaluation = model.evaluate(inputTensor, mask.cells);
  const train = model.trainStep(inputTensor, mask.cells);

  const expected = new Map<string, NamedArray>();
  expected.set('eval/loss', named([1], [evaluation.loss]));
  expected.set('eval/masked', named([batch, 3, S, S], evaluation.masked));
  expected.set('eval/rec_or_inp', named([batch, 3, S, S], evaluation.recOrInp));
  expected.set('train/loss', named([1], [train.loss]));
  train.features.forEach((f, i) => {
    expected.set(`train/features/${i}`, named(f.shape, f.data));
  });
  expected.set('train/decoder_out', named(train.decoderOut.shape, train.decoderOut.data));
  for (const [name, v] of model.buffers) expected.set(`train/buffers/${name}`, named([v.length], v));
  for (const [name, g] of train.grads) expected.set(`train/grad/${name}`, named([g.length], g));

  const entries = sparkState(config).filter((e) => e.kind === 'param');
  const params = entries.map((e) => ({
    name: e.name,
    value: Float64Array.from(state.get(e.name)!),
    grad: train.unused.has(e.name) ? null : train.grads.get(e.name)!,
    decay: e.decay,
  }));
  lambStep(params, lamb);
  for (const p of params) expected.set(`lamb/param/${p.name}`, named([p.value.length], p.value));

  const stateArrays = new Map<string, NamedArray>();
  for (const e of sparkState(config)) stateArrays.set(e.name, named(e.shape, state.get(e.name)!));
  return {
    fileName: `reference(${JSON.stringify(config.backbone)}, S=${S}, B=${batch})`,
    config: { spark: config, batch, seed, lamb },
    metadata: {},
    input: named([batch, 3, S, S], input),
    mask: { shape: [batch, 1, grid, grid], data: mask.cells },
    state: stateArrays,
    expected,
  };
}
