/**
 * The linear probe: a frozen encoder's pooled features, BatchNorm without affine parameters (each feature
 * standardised by its probe-train mean and variance, as BN in eval mode with exact statistics — MAE's
 * recipe puts a non-affine BN before the head), then a linear head trained for a fixed number of epochs
 * with AdamW and a cosine learning rate, on the GPU:
 *
 *   logits = x·W + b      (the tiled GEMM, src/engine/matmul.ts)
 *   dlogits = (softmax − onehot)/B, stats per row (src/engine/probe.ts)
 *   dW = xᵀ·dlogits (split-K GEMM), db = Σ_rows dlogits (column sum), AdamW step (src/train/optim.ts)
 *
 * The test split is scored in one GEMM and one cross-entropy pass; the accuracy is Σ correct / rows.
 * Deterministic per seed: the initial head and the epoch orders come from `seed`.
 */
import { matmul, matmulSplitK } from '../engine/matmul';
import { Arena } from '../engine/params';
import { softmaxXent, softmaxXentBackward, xentSummary } from '../engine/probe';
import { columnSum } from '../engine/reduce';
import type { Encodable, Gpu, GpuTensor } from '../gpu/runtime';
import { AdamW } from '../train/optim';
import { Rng } from '../util/random';
import { shuffled } from './data';
import type { FeatureSet } from './features';

export interface LinearProbeOptions {
  classes: number;
  seed: number;
  /** Passes over probe-train (default 30). */
  epochs?: number;
  /** Rows per step (default 256, at most the probe-train size). */
  batch?: number;
  /** Peak AdamW learning rate (default 0.05), decayed by a cosine to 0. */
  lr?: number;
  weightDecay?: number;
  /** Replaces the probe-train labels (the shuffled-label control). */
  trainLabels?: Int32Array;
  /** Called after each epoch with the mean train loss of its last step. */
  onEpoch?: (epoch: number, epochs: number) => void;
}

export interface LinearProbeResult {
  accuracy: number;
  /** Mean cross-entropy of the test split. */
  testLoss: number;
}

/** Per-feature mean and 1/√(var + eps) of the probe-train rows (float64, biased variance as BN). */
export function featureStandardizer(
  train: FeatureSet,
  eps = 1e-5,
): { mean: Float64Array; invStd: Float64Array } {
  const { count, width, data } = train;
  const mean = new Float64Array(width);
  const invStd = new Float64Array(width);
  for (let r = 0; r < count; r++) for (let c = 0; c < width; c++) mean[c] += data[r * width + c];
  for (let c = 0; c < width; c++) mean[c] /= count;
  for (let r = 0; r < count; r++)
    for (let c = 0; c < width; c++) invStd[c] += (data[r * width + c] - mean[c]) ** 2;
  for (let c = 0; c < width; c++) invStd[c] = 1 / Math.sqrt(invStd[c] / count + eps);
  return { mean, invStd };
}

function standardize(f: FeatureSet, s: { mean: Float64Array; invStd: Float64Array }): Float32Array {
  const out = new Float32Array(f.count * f.width);
  for (let r = 0; r < f.count; r++)
    for (let c = 0; c < f.width; c++)
      out[r * f.width + c] = (f.data[r * f.width + c] - s.mean[c]) * s.invStd[c];
  return out;
}

export async function linearProbe(
  gpu: Gpu,
  train: FeatureSet,
  test: FeatureSet,
  options: LinearProbeOptions,
): Promise<LinearProbeResult> {
  const K = options.classes;
  const D = train.width;
  if (test.width !== D)
    throw new Error(`Train features have ${D} values per image, test features ${test.width}.`);
  const epochs = options.epochs ?? 30;
  const B = Math.min(options.batch ?? 256, train.count);
  const lr = options.lr ?? 0.05;
  const weightDecay = options.weightDecay ?? 0;
  const labels = options.trainLabels ?? train.labels;
  const stepsPerEpoch = Math.floor(train.count / B);
  const totalSteps = epochs * stepsPerEpoch;
  const standardizer = featureStandardizer(train);
  const xTrain = standardize(train, standardizer);
  const xTest = standardize(test, standardizer);
  const rng = new Rng(options.seed);

  const arena = new Arena('probe.head', true);
  arena.add('head.weight', { officialShape: [K, D], layout: 'linear', decay: true });
  arena.add('head.bias', { officialShape: [K], decay: false });
  const tensors: GpuTensor[] = [];
  const ops: Encodable[] = [];
  const tensor = (label: string, shape: number[]) => {
    const t = gpu.tensor(label, shape);
    tensors.push(t);
    return t;
  };
  const own = <T extends Encodable>(e: T) => {
    ops.push(e);
    return e;
  };
  let optimizer: AdamW | undefined;
  try {
    arena.allocate(gpu);
    // The head starts as timm/MAE's: weight ~ N(0, 0.01²), bias 0; drawn in GPU layout [D, K].
    const init = new Float32Array(arena.size);
    const w = arena.get('head.weight');
    for (let i = 0; i < w.length; i++) init[w.offset + i] = rng.normal() * 0.01;
    gpu.write(arena.whole('values'), init);
    const weight = arena.view('head.weight');
    const bias = arena.view('head.bias');

    const xb = tensor('probe.x', [B, D]);
    const yb = tensor('probe.y', [B]);
    const logits = tensor('probe.logits', [B, K]);
    const dlogits = tensor('probe.dlogits', [B, K]);
    const step = [
      own(matmul(gpu, { out: logits, a: xb, b: weight, M: B, N: K, K: D, bias })),
      own(softmaxXentBackward(gpu, { rows: B, classes: K, logits, labels: yb, dlogits, scale: 1 / B })),
      own(
        matmulSplitK(gpu, {
          out: arena.view('head.weight', 'grads'),
          a: xb,
          b: dlogits,
          M: D,
          N: K,
          K: B,
          transA: true,
        }),
      ),
      own(columnSum(gpu, { out: arena.view('head.bias', 'grads'), x: dlogits, rows: B, cols: K })),
    ];
    optimizer = new AdamW(gpu, arena, { maxGradNorm: Number.POSITIVE_INFINITY });
    const opt = optimizer;

    const rows = new Float32Array(B * D);
    const ys = new Uint32Array(B);
    let t = 0;
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = shuffled(train.count, rng);
      for (let s = 0; s < stepsPerEpoch; s++, t++) {
        for (let i = 0; i < B; i++) {
          const r = order[s * B + i];
          rows.set(xTrain.subarray(r * D, (r + 1) * D), i * D);
          ys[i] = labels[r];
        }
        gpu.write(xb, rows);
        gpu.write(yb, ys);
        opt.beginStep((lr * (1 + Math.cos((Math.PI * t) / totalSteps))) / 2, weightDecay);
        gpu.submit('probe.linear.step', (pass) => {
          for (const op of step) op.encode(pass);
          opt.encode(pass);
        });
      }
      // One read per epoch keeps the queue from running far ahead of the host.
      await gpu.idle();
      options.onEpoch?.(epoch + 1, epochs);
    }

    const N = test.count;
    const xt = tensor('probe.test.x', [N, D]);
    const yt = tensor('probe.test.y', [N]);
    const lt = tensor('probe.test.logits', [N, K]);
    const stats = tensor('probe.test.stats', [N * 2]);
    const summary = tensor('probe.test.summary', [2]);
    gpu.write(xt, xTest);
    gpu.write(yt, Uint32Array.from(test.labels));
    const score = [
      own(matmul(gpu, { out: lt, a: xt, b: weight, M: N, N: K, K: D, bias })),
      own(softmaxXent(gpu, { rows: N, classes: K, logits: lt, labels: yt, stats })),
      own(xentSummary(gpu, { summary, stats, rows: N })),
    ];
    gpu.submit('probe.linear.score', (pass) => {
      for (const op of score) op.encode(pass);
    });
    const [testLoss, correct] = await gpu.read(summary);
    return { accuracy: correct / N, testLoss };
  } finally {
    optimizer?.release();
    for (const op of ops) op.release();
    for (const t of tensors) gpu.releaseTensor(t);
    arena.release(gpu);
  }
}
