import { describe, expect, it } from 'vitest';
import { SPARK_DEFAULTS, type SparkConfig, validateSparkConfig } from '../../models/config';
import { sparkState } from '../../models/official-names';
import { lenKeep } from '../../sparse/mask';
import { Rng } from '../../util/random';
import { SparkReference, type SparkState } from './model';
import { Tensor } from './tape';

/** Random weights away from defaults (so every parameter matters), positive running variances. */
function randomState(config: SparkConfig, seed: number): SparkState {
  const rng = new Rng(seed);
  const state: SparkState = new Map();
  for (const e of sparkState(config)) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    let v: Float64Array;
    if (e.name.endsWith('num_batches_tracked')) v = new Float64Array(1);
    else if (e.name.endsWith('running_var')) v = Float64Array.from(rng.floats(n, 0.5, 1.5));
    else if (e.name.endsWith('running_mean')) v = Float64Array.from(rng.normals(n, 0.1));
    else if (e.shape.length === 1 && e.name.endsWith('.weight'))
      v = Float64Array.from(rng.floats(n, 0.5, 1.5));
    else if (e.name.endsWith('gamma')) v = Float64Array.from(rng.floats(n, 0.5, 1.5));
    else {
      const fanIn = e.shape.length === 4 ? e.shape[1] * e.shape[2] * e.shape[3] : (e.shape[1] ?? 1);
      v = Float64Array.from(rng.normals(n, 1 / Math.sqrt(fanIn)));
    }
    state.set(e.name, v);
  }
  return state;
}

function randomCells(config: SparkConfig, batch: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const grid = config.inputSize / totalStrideOf(config);
  const keep = lenKeep(grid, grid, config.maskRatio);
  const cells = new Uint8Array(batch * grid * grid);
  for (let b = 0; b < batch; b++) {
    const order = Array.from({ length: grid * grid }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let i = 0; i < keep; i++) cells[b * grid * grid + order[i]] = 1;
  }
  return cells;
}

function totalStrideOf(config: SparkConfig): number {
  const b = config.backbone;
  return b.family === 'convnext'
    ? 4 * 2 ** (b.dims.length - 1)
    : b.stemStride * (b.maxpool ? 2 : 1) * b.stageStrides.reduce((a, s) => a * s, 1);
}

function randomInput(config: SparkConfig, batch: number, seed: number): Tensor {
  const s = config.inputSize;
  return new Tensor([batch, 3, s, s], Float64Array.from(new Rng(seed).normals(batch * 3 * s * s)), 'input');
}

const base = { maskRatio: 0.5, ...SPARK_DEFAULTS } as const;
const tinyBottleneck: SparkConfig = validateSparkConfig({
  ...base,
  inputSize: 16,
  decoderWidth: 8,
  densifyNorm: 'bn',
  backbone: {
    family: 'resnet',
    block: 'bottleneck',
    stemWidth: 4,
    stemKernel: 3,
    stemStride: 1,
    maxpool: true,
    widths: [2, 2],
    depths: [1, 2],
    stageStrides: [1, 2],
  },
});
/** Stride 4 with three feature maps: the finest (stride 1) has no decoder block to feed. */
const tinyBasicExtraScale: SparkConfig = validateSparkConfig({
  ...base,
  inputSize: 16,
  decoderWidth: 8,
  densifyNorm: 'bn',
  backbone: {
    family: 'resnet',
    block: 'basic',
    stemWidth: 3,
    stemKernel: 3,
    stemStride: 1,
    maxpool: false,
    widths: [2, 3, 4],
    depths: [1, 1, 1],
    stageStrides: [1, 2, 2],
  },
});
/** 24 px at stride 8: a 3×3 grid (not a power of two; keeps round(4.5) = 4 cells); last width = decoder width. */
const tinyConvNeXt: SparkConfig = validateSparkConfig({
  ...base,
  inputSize: 24,
  decoderWidth: 8,
  densifyNorm: 'ln',
  backbone: { family: 'convnext', dims: [4, 8], depths: [1, 1] },
});

/** Loss of a fresh model in train mode with one parameter entry replaced. */
function trainLoss(config: SparkConfig, state: SparkState, input: Tensor, cells: Uint8Array): number {
  return new SparkReference(config, state).trainStep(input, cells).loss;
}

function checkWholeModelGradients(config: SparkConfig, seed: number): void {
  const state = randomState(config, seed);
  const input = randomInput(config, 2, seed + 1);
  const cells = randomCells(config, 2, seed + 2);
  const result = new SparkReference(config, state).trainStep(input, cells);
  const rng = new Rng(seed + 3);
  const h = 1e-5;
  let checked = 0;
  for (const e of sparkState(config)) {
    if (e.kind !== 'param') continue;
    const values = state.get(e.name)!;
    const analytic = result.grads.get(e.name)!;
    // Three random entries per tensor (all of them for tiny tensors).
    const picks = values.length <= 3 ? [...values.keys()] : [0, 1, 2].map(() => rng.int(values.length));
    for (const i of picks) {
      const old = values[i];
      values[i] = old + h;
      const up = trainLoss(config, state, input, cells);
      values[i] = old - h;
      const down = trainLoss(config, state, input, cells);
      values[i] = old;
      const numeric = (up - down) / (2 * h);
      const scale = Math.max(1e-3, Math.abs(numeric));
      if (Math.abs(analytic[i] - numeric) > 1e-5 * scale + 1e-8)
        throw new Error(`${e.name}[${i}]: analytic ${analytic[i]} vs numeric ${numeric}`);
      checked++;
    }
  }
  expect(checked).toBeGreaterThan(30);
}

describe('reference SparK model', () => {
  it('whole-model gradients match finite differences: ResNet bottleneck + maxpool, stride 4, 16 px', () => {
    checkWholeModelGradients(tinyBottleneck, 10);
  });

  it('the ConvNeXt whose last width equals the decoder width has no densify_projs.0', () => {
    expect(sparkState(tinyConvNeXt).some((e) => e.name.startsWith('densify_projs.0'))).toBe(false);
  });

  it('whole-model gradients match finite differences: ConvNeXt dims [4, 8], stride 8, 24 px (3×3 grid, identity proj at scale 0)', () => {
    checkWholeModelGradients(tinyConvNeXt, 20);
  });

  it('whole-model gradients match finite differences with more feature maps than decoder blocks', () => {
    checkWholeModelGradients(tinyBasicExtraScale, 30);
  });

  it('parameters of a scale the decoder does not read get no gradient (PyTorch None) but their BN still tracks', () => {
    const config = tinyBasicExtraScale;
    const model = new SparkReference(config, randomState(config, 1));
    const result = model.trainStep(randomInput(config, 2, 2), randomCells(config, 2, 3));
    expect([...result.unused].sort()).toEqual([
      'densify_norms.2.bias',
      'densify_norms.2.weight',
      'densify_projs.2.bias',
      'densify_projs.2.weight',
      'mask_tokens.2',
    ]);
    expect(result.grads.get('mask_tokens.2')!.every((g) => g === 0)).toBe(true);
    expect(model.buffers.get('densify_norms.2.num_batches_tracked')![0]).toBe(1);
  });

  it('eval uses running statistics and changes no buffer; a train forward moves every BN buffer once', () => {
    const config = tinyBottleneck;
    const model = new SparkReference(config, randomState(config, 4));
    const before = model.state();
    const input = randomInput(config, 2, 5);
    const cells = randomCells(config, 2, 6);
    const first = model.evaluate(input, cells);
    const second = model.evaluate(input, cells);
    expect(second.loss).toBe(first.loss);
    for (const [name, v] of model.buffers) expect(Array.from(v)).toEqual(Array.from(before.get(name)!));
    model.trainStep(input, cells);
    for (const [name, v] of model.buffers)
      if (name.endsWith('num_batches_tracked')) expect(v[0]).toBe(1);
      else expect(Array.from(v)).not.toEqual(Array.from(before.get(name)!));
  });

  it('encoder features are exactly 0 at masked sites and the composite shows the input where visible', () => {
    const config = tinyBottleneck;
    const input = randomInput(config, 2, 8);
    const cells = randomCells(config, 2, 9);
    const result = new SparkReference(config, randomState(config, 7)).trainStep(input, cells);
    const grid = 4;
    for (const f of result.features) {
      const [n, c, h, w] = f.shape;
      const r = h / grid;
      for (let b = 0; b < n; b++)
        for (let ch = 0; ch < c; ch++)
          for (let y = 0; y < h; y++)
            for (let x = 0; x < w; x++)
              if (!cells[(b * grid + Math.floor(y / r)) * grid + Math.floor(x / r)])
                expect(f.data[((b * c + ch) * h + y) * w + x]).toBe(0);
    }
    const s = config.inputSize;
    for (let k = 0; k < input.data.length; k++) {
      const x = k % s;
      const y = Math.floor(k / s) % s;
      const b = Math.floor(k / (3 * s * s));
      const visible = cells[(b * grid + Math.floor(y / 4)) * grid + Math.floor(x / 4)];
      if (visible) {
        expect(result.recOrInp[k]).toBe(input.data[k]);
        expect(result.masked[k]).toBe(input.data[k]);
      } else expect(result.masked[k]).toBe(0);
    }
  });

  it('sparse and dense-zero encoders with the same weights agree exactly when every cell is visible, and differ otherwise', () => {
    for (const backbone of [tinyBottleneck, tinyConvNeXt]) {
      const allVisible = { ...backbone, maskRatio: 0, lossOn: 'all' as const };
      const state = randomState(allVisible, 11);
      const input = randomInput(allVisible, 2, 12);
      const grid = allVisible.inputSize / totalStrideOf(allVisible);
      const cells = new Uint8Array(2 * grid * grid).fill(1);
      const sparse = new SparkReference(allVisible, state).trainStep(input, cells);
      const dense = new SparkReference({ ...allVisible, encoder: 'dense-zero' }, state).trainStep(
        input,
        cells,
      );
      expect(Math.abs(dense.loss - sparse.loss)).toBeLessThan(1e-12);
      for (const [name, g] of sparse.grads) {
        const other = dense.grads.get(name)!;
        for (let i = 0; i < g.length; i++) expect(Math.abs(other[i] - g[i])).toBeLessThan(1e-10);
      }
      const partial = randomCells(backbone, 2, 13);
      const s2 = new SparkReference(backbone, state).trainStep(input, partial);
      const d2 = new SparkReference({ ...backbone, encoder: 'dense-zero' }, state).trainStep(input, partial);
      expect(Math.abs(s2.loss - d2.loss)).toBeGreaterThan(1e-6);
      // Dense-zero features are not re-masked: some masked site is non-zero.
      expect(d2.features[0].data.some((v, i) => v !== 0 && s2.features[0].data[i] === 0)).toBe(true);
    }
  });

  it('ablations: coarsest-only decoder leaves finer densify layers unused; raw target loss is plain masked MSE', () => {
    const coarsest = { ...tinyBottleneck, decoderInputs: 'coarsest' as const };
    const state = randomState(coarsest, 14);
    const input = randomInput(coarsest, 2, 15);
    const cells = randomCells(coarsest, 2, 16);
    const r = new SparkReference(coarsest, state).trainStep(input, cells);
    expect([...r.unused].filter((n) => n.startsWith('densify_projs.1') || n === 'mask_tokens.1').length).toBe(
      3,
    );
    expect(r.unused.has('mask_tokens.0')).toBe(false);

    const raw = { ...tinyBottleneck, lossTarget: 'raw' as const };
    const out = new SparkReference(raw, state).trainStep(input, cells);
    const s = raw.inputSize;
    const p = 4;
    const g = s / p;
    let sum = 0;
    let maskedPatches = 0;
    for (let b = 0; b < 2; b++)
      for (let cy = 0; cy < g; cy++)
        for (let cx = 0; cx < g; cx++) {
          if (cells[(b * g + cy) * g + cx]) continue;
          maskedPatches++;
          let e = 0;
          for (let ch = 0; ch < 3; ch++)
            for (let y = cy * p; y < cy * p + p; y++)
              for (let x = cx * p; x < cx * p + p; x++) {
                const k = ((b * 3 + ch) * s + y) * s + x;
                e += (out.decoderOut.data[k] - input.data[k]) ** 2;
              }
          sum += e / (3 * p * p);
        }
    // The official denominator carries + 1e-8.
    expect(out.loss).toBeCloseTo(sum / (maskedPatches + 1e-8), 12);

    const zeros = { ...tinyBottleneck, maskToken: 'zeros' as const };
    const zs = randomState(zeros, 17);
    expect(() => new SparkReference(zeros, zs).trainStep(input, cells)).not.toThrow();
  });
});
