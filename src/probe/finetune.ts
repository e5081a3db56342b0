/**
 * Fine-tuning: the whole encoder (run densely, every site visible, train-mode BatchNorm) plus a linear head,
 * trained end to end on probe-train and scored on probe-test with the running statistics, as the paper
 * measures transfer. The recipe follows the official downstream code (SPARK-SPEC §5.2) scaled to a short run:
 *
 *   optimiser      LAMB for ResNets, AdamW for ConvNeXts (the engine's, src/train/optim.ts), no clipping
 *   layer decay    lr · decay^(N + 1 − layer_id) per tensor, layer ids as the official downstream code
 *                  assigns them (`layerScaleTable`); the head has layer id N + 1, scale 1
 *   schedule       the official `lr_wd_annealing`: linear warm-up from 0.005·lr over the first 5 % of steps,
 *                  then a cosine down to 0.001·lr at the last step; weight decay constant
 *   steps          a fixed number (`steps`), batches drawn by the seed (an epoch order, reshuffled per epoch)
 *   head           initialised as the official models' heads (timm ResNet: U(±1/√D); ConvNeXt: N(0, 0.02²))
 *
 * Left out at this scale, and said so in docs/PROBE.md: mixup/cutmix, label smoothing, augmentation, EMA,
 * drop path. Each lr group is one optimiser over the shared arena that skips every other tensor (the engine's
 * optimisers take one lr per step), which is exactly per-group lrs as long as nothing clips the global norm.
 *
 * Parts: the encoder's own layer backwards (./encoder.ts, trainable), pooling backward and the numerically
 * stable softmax cross-entropy (src/engine/probe.ts), the head on the plain-rows GEMM path (src/engine/matmul.ts).
 */
import { matmul, matmulSplitK } from '../engine/matmul';
import { Arena } from '../engine/params';
import { softmaxXent, softmaxXentBackward } from '../engine/probe';
import { columnSum } from '../engine/reduce';
import type { Encodable, Gpu, GpuTensor } from '../gpu/runtime';
import type { SparkConfig } from '../models/config';
import { ENCODER_PREFIX } from '../models/official-names';
import { AdamW, Lamb } from '../train/optim';
import { Rng } from '../util/random';
import { type LabelledSplit, shuffled } from './data';
import { DenseEncoder, type PoolScales } from './encoder';
import { encoderHash } from './hash';

export interface FinetuneOptions {
  classes: number;
  seed: number;
  /** Optimiser steps (the cap; default 200). */
  steps?: number;
  /** Images per step (default 32, at most the probe-train size). */
  batch?: number;
  /**
   * Peak lr (default: 5e-2 with LAMB, 1e-3 with AdamW — short-run values, see docs/PROBE.md). LAMB's trust
   * ratio limits each tensor's step to about lr·‖w‖, so in tens of steps 8e-3 barely moves the head (tiny,
   * 16 px, 30 steps: training loss 2.36 → 2.19, 21 % of 200 test images; 3e-2: 36 %; 1e-1: 42 %).
   */
  lr?: number;
  /** Layer-wise lr decay factor in (0, 1] (default 0.7, the official ResNet-50 / ConvNeXt-S value). */
  layerDecay?: number;
  /** Weight decay of the decayed tensors (default: 0.02 ResNet, 0.01 ConvNeXt, the official values). */
  weightDecay?: number;
  /** Default: the official family's (LAMB for ResNets, AdamW for ConvNeXts). */
  optimizer?: 'lamb' | 'adamw';
  pool?: PoolScales;
  /** Replaces the probe-train labels (the shuffled-label control). */
  trainLabels?: Int32Array;
  /**
   * After every step; every 10th step (and the last) also gets the mean cross-entropy and accuracy of its
   * training batch (train-mode BatchNorm, before the update), read back where the queue is drained anyway.
   */
  onStep?: (step: number, steps: number, batch?: { loss: number; accuracy: number }) => void;
  cancelled?: () => boolean;
}

export interface FinetuneResult {
  accuracy: number;
  /** Mean cross-entropy of the probe-test split. */
  testLoss: number;
  /** Hash of the fine-tuned encoder (parameters and BN statistics): equal for equal seeds. */
  stateHash: string;
  /** How many probe-test images were assigned to each class (a collapsed head predicts one class). */
  predicted: number[];
}

/**
 * The official downstream layer ids (downstream_imagenet/models/__init__.py), generalised to any depth:
 * ResNet — stem 0, layer1 1, layer2 and layer3 in groups of `blk2` / `blk3` blocks (the official groupings
 * for ResNet-50/101/152/200; one group per stage for other depths), layer4 (or the last stage) N, fc N + 1.
 * ConvNeXt — the official rule: N = 12 when the third stage has more than 9 blocks, else 6; stem and stage 0
 * … as in the official code. Returns tensor name (official, with the encoder prefix) → { layerId, exponent },
 * the lr scale being decay^exponent with exponent = N + 1 − layerId.
 */
export function layerScaleTable(
  config: SparkConfig,
  names: readonly string[],
): Map<string, { layerId: number; exponent: number }> {
  const b = config.backbone;
  const out = new Map<string, { layerId: number; exponent: number }>();
  const local = (name: string) =>
    name.startsWith(ENCODER_PREFIX) ? name.slice(ENCODER_PREFIX.length) : name;
  if (b.family === 'resnet') {
    const depths = b.depths;
    const stages = depths.length;
    const official: Record<string, [number, number]> = {
      '4,6': [2, 3],
      '4,23': [2, 3],
      '8,36': [4, 4],
      '24,36': [4, 4],
      '30,48': [5, 6],
    };
    // Groups per stage: stage 1 one id, the middle stages blk-sized groups (official) or one id each.
    const [blk2, blk3] = stages === 4 ? (official[`${depths[1]},${depths[2]}`] ?? [0, 0]) : [0, 0];
    const groups = depths.map((d, i) => {
      if (i === 0 || i === stages - 1) return 1;
      const blk = i === 1 ? blk2 : i === 2 ? blk3 : 0;
      return blk > 0 ? Math.ceil(d / blk - 1e-5) : 1;
    });
    const firstId: number[] = [];
    let next = 1;
    for (let i = 0; i < stages; i++) {
      firstId.push(next);
      next += groups[i];
    }
    const N = firstId[stages - 1];
    for (const name of names) {
      const m = /^layer(\d+)\.(\d+)\./.exec(local(name));
      let layerId = 0;
      if (m) {
        const stage = Number(m[1]) - 1;
        const block = Number(m[2]);
        const blk = stage === 1 ? blk2 : stage === 2 ? blk3 : 0;
        layerId =
          stage === stages - 1
            ? N
            : firstId[stage] + (groups[stage] > 1 && blk > 0 ? Math.floor(block / blk) : 0);
      }
      out.set(name, { layerId, exponent: N + 1 - layerId });
    }
    return out;
  }
  const depths = b.depths;
  const N = depths.length >= 2 && depths[depths.length - 2] > 9 ? 12 : 6;
  const last = depths.length - 1;
  for (const name of names) {
    const n = local(name);
    let layerId = N + 1;
    const down = /^downsample_layers\.(\d+)\./.exec(n);
    const stage = /^stages\.(\d+)\.(\d+)\./.exec(n);
    if (down) {
      const s = Number(down[1]);
      layerId = s === 0 ? 0 : s === last ? N : s + 1;
    } else if (stage) {
      const s = Number(stage[1]);
      const block = Number(stage[2]);
      layerId = s === last ? N : s <= 1 ? s + 1 : 3 + Math.floor(block / 3);
    }
    out.set(name, { layerId, exponent: N + 1 - layerId });
  }
  return out;
}

/** The official downstream lr at step `it` of `total` (warm-up `warmup` steps, then cosine). */
export function finetuneLr(peak: number, it: number, warmup: number, total: number): number {
  if (it < warmup) return 0.005 * peak + (0.995 * peak * it) / warmup;
  const ratio = total - 1 - warmup > 0 ? (it - warmup) / (total - 1 - warmup) : 1;
  return 0.001 * peak + 0.999 * peak * (0.5 + 0.5 * Math.cos(Math.PI * ratio));
}

export class FinetuneCancelled extends Error {
  constructor() {
    super('The fine-tuning was stopped.');
    this.name = 'FinetuneCancelled';
  }
}

/** Fine-tunes a copy of the encoder in `state` (official names) on `train`; scores it on `test`. */
export async function finetune(
  gpu: Gpu,
  config: SparkConfig,
  state: ReadonlyMap<string, ArrayLike<number>>,
  train: LabelledSplit,
  test: LabelledSplit,
  options: FinetuneOptions,
): Promise<FinetuneResult> {
  const K = options.classes;
  const steps = options.steps ?? 200;
  const B = Math.min(options.batch ?? 32, train.count);
  if (B < 2)
    throw new RangeError('Fine-tuning needs at least two probe-train images (BatchNorm needs a batch).');
  const family = config.backbone.family;
  const optimizerName = options.optimizer ?? (family === 'resnet' ? 'lamb' : 'adamw');
  const peak = options.lr ?? (optimizerName === 'lamb' ? 5e-2 : 1e-3);
  const decay = options.layerDecay ?? 0.7;
  if (!(decay > 0 && decay <= 1)) throw new RangeError(`The layer decay must be in (0, 1], got ${decay}.`);
  const weightDecay = options.weightDecay ?? (family === 'resnet' ? 0.02 : 0.01);
  const labels = options.trainLabels ?? train.labels;
  const warmup = Math.round(steps * 0.05);
  const rng = new Rng(options.seed);
  const S = config.inputSize;

  const encoder = new DenseEncoder(gpu, config, B, {
    pool: options.pool ?? 'all',
    trainable: true,
    label: 'probe.finetune',
  });
  const head = new Arena('probe.finetune.head', true);
  head.add('head.weight', { officialShape: [K, encoder.width], layout: 'linear', decay: true });
  head.add('head.bias', { officialShape: [K], decay: false });
  const tensors: GpuTensor[] = [];
  const ops: Encodable[] = [];
  const optimizers: { scale: number; opt: Lamb | AdamW }[] = [];
  const tensor = (label: string, shape: number[]) => {
    const t = gpu.tensor(label, shape);
    tensors.push(t);
    return t;
  };
  const own = <T extends Encodable>(e: T) => {
    ops.push(e);
    return e;
  };
  try {
    if (encoder.trainRefusal)
      throw new RangeError(`This encoder cannot be fine-tuned: ${encoder.trainRefusal}`);
    encoder.loadState(state);
    head.allocate(gpu);
    const D = encoder.width;
    // The head starts as the official downstream models' does: timm's ResNet keeps PyTorch's Linear default,
    // U(±1/√D) (bias too); ConvNeXt draws N(0, 0.02²) (truncated there; 2σ cuts almost nothing) with bias 0.
    // LAMB's trust ratio scales each update by the tensor's norm, so a head as small as the linear probe's
    // N(0, 0.01²) would barely move in a short run.
    const init = new Float32Array(head.size);
    const w = head.get('head.weight');
    const b0 = head.get('head.bias');
    const bound = 1 / Math.sqrt(D);
    for (let i = 0; i < w.length; i++)
      init[w.offset + i] = family === 'resnet' ? (2 * rng.next() - 1) * bound : rng.normal() * 0.02;
    if (family === 'resnet')
      for (let i = 0; i < b0.length; i++) init[b0.offset + i] = (2 * rng.next() - 1) * bound;
    gpu.write(head.whole('values'), init);
    const weight = head.view('head.weight');
    const bias = head.view('head.bias');
    const dpooled = encoder.dpooled as GpuTensor;

    const yb = tensor('probe.finetune.y', [B]);
    const logits = tensor('probe.finetune.logits', [B, K]);
    const dlogits = tensor('probe.finetune.dlogits', [B, K]);
    const stats = tensor('probe.finetune.stats', [B * 2]);
    const headForward = [
      own(matmul(gpu, { out: logits, a: encoder.pooled, b: weight, M: B, N: K, K: D, bias })),
    ];
    const headBackward = [
      own(softmaxXentBackward(gpu, { rows: B, classes: K, logits, labels: yb, dlogits, scale: 1 / B })),
      own(
        matmulSplitK(gpu, {
          out: head.view('head.weight', 'grads'),
          a: encoder.pooled,
          b: dlogits,
          M: D,
          N: K,
          K: B,
          transA: true,
        }),
      ),
      own(columnSum(gpu, { out: head.view('head.bias', 'grads'), x: dlogits, rows: B, cols: K })),
      // ∂loss/∂pooled = dlogits · Wᵀ (W stored [D, K]).
      own(matmul(gpu, { out: dpooled, a: dlogits, b: weight, M: B, N: D, K, transB: true })),
    ];
    const score = [own(softmaxXent(gpu, { rows: B, classes: K, logits, labels: yb, stats }))];

    // One optimiser per distinct lr scale, each stepping only its own tensors of the shared arena.
    const Optimizer = optimizerName === 'lamb' ? Lamb : AdamW;
    const noClip = { maxGradNorm: Number.POSITIVE_INFINITY };
    const names = encoder.params.entries.map((e) => e.name);
    const table = layerScaleTable(config, names);
    const byScale = new Map<number, Set<string>>();
    for (const name of names) {
      const scale = decay ** (table.get(name)?.exponent ?? 0);
      const group = byScale.get(scale) ?? new Set<string>();
      group.add(name);
      byScale.set(scale, group);
    }
    for (const [scale, group] of [...byScale].sort((a, b) => b[0] - a[0])) {
      const skip = new Set(names.filter((n) => !group.has(n)));
      optimizers.push({ scale, opt: new Optimizer(gpu, encoder.params, { ...noClip, skip }) });
    }
    optimizers.push({ scale: 1, opt: new Optimizer(gpu, head, noClip) });

    const images = new Float32Array(B * 3 * S * S);
    const ys = new Uint32Array(B);
    let order = shuffled(train.count, rng);
    let cursor = 0;
    for (let step = 0; step < steps; step++) {
      if (options.cancelled?.()) throw new FinetuneCancelled();
      for (let slot = 0; slot < B; slot++) {
        if (cursor === order.length) {
          order = shuffled(train.count, rng);
          cursor = 0;
        }
        const i = order[cursor++];
        train.write(i, images, slot);
        ys[slot] = labels[i];
      }
      encoder.setImages(images);
      gpu.write(yb, ys);
      const lr = finetuneLr(peak, step, warmup, steps);
      for (const { scale, opt } of optimizers) opt.beginStep(lr * scale, weightDecay);
      const commands = gpu.device.createCommandEncoder({ label: `finetune step ${step}` });
      commands.clearBuffer(encoder.params.grads);
      const pass = commands.beginComputePass({ label: 'finetune' });
      encoder.encodeTrainForward(pass);
      for (const op of headForward) op.encode(pass);
      for (const op of score) op.encode(pass);
      for (const op of headBackward) op.encode(pass);
      encoder.encodeTrainBackward(pass);
      for (const { opt } of optimizers) opt.encode(pass);
      pass.end();
      gpu.device.queue.submit([commands.finish()]);
      // A read now and then keeps the queue from running far ahead of the host; it also says how the
      // training batch fared (the loss should fall from ln K).
      if (step % 10 === 9 || step === steps - 1) {
        const rows = await gpu.read(stats);
        let loss = 0;
        let right = 0;
        for (let r = 0; r < B; r++) {
          loss += rows[2 * r];
          right += rows[2 * r + 1];
        }
        options.onStep?.(step + 1, steps, { loss: loss / B, accuracy: right / B });
      } else options.onStep?.(step + 1, steps);
    }

    // Scoring: eval mode (running statistics), the same head, one batch at a time; padding rows ignored.
    let correct = 0;
    let lossSum = 0;
    const predicted = new Array<number>(K).fill(0);
    for (let start = 0; start < test.count; start += B) {
      const n = Math.min(B, test.count - start);
      for (let slot = 0; slot < B; slot++) {
        const i = start + (slot < n ? slot : 0);
        test.write(i, images, slot);
        ys[slot] = test.labels[i];
      }
      encoder.setImages(images);
      gpu.write(yb, ys);
      gpu.submit('probe.finetune.score', (pass) => {
        encoder.encodeEval(pass);
        for (const op of headForward) op.encode(pass);
        for (const op of score) op.encode(pass);
      });
      const rows = await gpu.read(stats);
      const z = await gpu.read(logits);
      for (let r = 0; r < n; r++) {
        lossSum += rows[2 * r];
        correct += rows[2 * r + 1];
        let best = 0;
        for (let c = 1; c < K; c++) if (z[r * K + c] > z[r * K + best]) best = c;
        predicted[best]++;
      }
    }
    const final = await encoder.exportState();
    return {
      accuracy: correct / test.count,
      testLoss: lossSum / test.count,
      stateHash: encoderHash(config, final),
      predicted,
    };
  } finally {
    for (const { opt } of optimizers) opt.release();
    for (const op of ops) op.release();
    for (const t of tensors) gpu.releaseTensor(t);
    head.release(gpu);
    encoder.destroy();
  }
}
