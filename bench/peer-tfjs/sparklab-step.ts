/**
 * SparkLab's training step as the trainer records it (src/train/trainer.ts), for the peer and scaling
 * benchmarks: batch and mask set (site maps rebuilt on the CPU), gradients cleared, forward, backward and
 * LAMB in one submission, nothing read back. `settle()` waits for the GPU.
 */
import type { Gpu } from '../../src/gpu/runtime';
import { type EncoderMode, type SparkConfig, validateSparkConfig } from '../../src/models/config';
import { createSparkModel } from '../../src/models/spark-model';
import type { CellMask } from '../../src/sparse/mask';
import { Lamb } from '../../src/train/optim';

/** The optimiser settings of a timed step (LAMB, as the trainer). */
export interface StepLamb {
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  maxGradNorm: number;
}

export interface TimedStep {
  step(): void;
  settle(): Promise<void>;
  release(): void;
  /** GPU bytes SparkLab holds once model and optimiser exist (every buffer is allocated up front). */
  readonly bytes: number;
}

/** The official computation in SparkLab's kernels, when this build has it (issue #11 part A). */
export const DENSE_MASKED = 'dense-masked' as EncoderMode;

/** Whether this build's model accepts an encoder mode (dense-masked arrives with another branch). */
export function hasEncoderMode(config: SparkConfig, encoder: EncoderMode): boolean {
  try {
    validateSparkConfig({ ...config, encoder });
    return true;
  } catch {
    return false;
  }
}

export function sparkLabStep(
  gpu: Gpu,
  o: {
    config: SparkConfig;
    encoder: EncoderMode;
    batch: number;
    state?: ReadonlyMap<string, Float32Array>;
    seed?: number;
    images: Float32Array;
    mask: CellMask;
    lamb: StepLamb;
  },
): TimedStep {
  const before = gpu.liveBuffers().bytes;
  // No drop path: the TF.js peer has none, and a step here draws no per-step decisions (setDropPath).
  const model = createSparkModel(gpu, { ...o.config, encoder: o.encoder, dropPathRate: 0 }, o.batch, {
    label: `bench.${o.encoder}`,
  });
  let optimizer: Lamb;
  try {
    if (o.state) model.loadState(new Map(o.state));
    else model.initialize(o.seed ?? 0);
    optimizer = new Lamb(gpu, model.params, {
      beta1: o.lamb.beta1,
      beta2: o.lamb.beta2,
      eps: o.lamb.eps,
      maxGradNorm: o.lamb.maxGradNorm,
      skip: model.unusedParams,
    });
  } catch (error) {
    model.destroy();
    throw error;
  }
  const bytes = gpu.liveBuffers().bytes - before;
  return {
    bytes,
    step() {
      model.setBatch(o.images, o.mask);
      optimizer.beginStep(o.lamb.lr, o.lamb.weightDecay);
      const encoder = gpu.device.createCommandEncoder({ label: `bench ${o.encoder} step` });
      encoder.clearBuffer(model.params.grads);
      const pass = encoder.beginComputePass({ label: `bench ${o.encoder} step` });
      model.encodeTrainForward(pass);
      model.encodeTrainBackward(pass);
      optimizer.encode(pass);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
    },
    settle: () => gpu.idle(),
    release() {
      optimizer.release();
      model.destroy();
    },
  };
}
