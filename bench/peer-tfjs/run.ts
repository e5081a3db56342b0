/**
 * The peer benchmark itself, run inside the bench page (bench/page) so that SparkLab and TensorFlow.js share
 * one browser, one page and one adapter. Per preset:
 *   1. the case (bench/peer-tfjs/case.ts): SparkLab `sparse` initialised, its state, a batch, a mask at the
 *      preset's ratio (0.6) and its first training loss;
 *   2. the TF.js model (./model.ts) loaded with that state computes its first loss on WebGPU: the run is
 *      valid when the two agree within LOSS_TOLERANCE (relative);
 *   3. whole training steps (forward, backward, optimiser; the batch and mask uploaded each step, nothing read
 *      back) timed in rounds after warm-up, the implementations alternating round by round: SparkLab `sparse`,
 *      SparkLab's dense baseline, TF.js at its defaults and TF.js with WEBGPU_CPU_FORWARD off. Each figure is
 *      the median over rounds of (round wall time / steps), the round ending with one wait for the GPU.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import type { Gpu } from '../../src/gpu/runtime';
import type { SparkConfig } from '../../src/models/config';
import { PRESET_TRAINING, PRESETS, type PresetName } from '../../src/models/presets';
import { argValue, median } from '../harness';
import { gradientDifference, LOSS_TOLERANCE, type PeerCase, relativeDifference, sparkLabCase } from './case';
import { type PeerLambSettings, TfjsSparkModel } from './model';
import { DENSE_MASKED, hasEncoderMode, sparkLabStep } from './sparklab-step';

export type Emit = (record: Record<string, unknown>) => void;

/** One timed implementation: `step()` encodes and submits a step; `settle()` waits until the GPU is done. */
interface Contender {
  step(): void;
  settle(): Promise<void>;
  release(): void;
}

function lambSettings(config: SparkConfig, lr: number): PeerLambSettings {
  return {
    lr,
    weightDecay: 0.04,
    beta1: 0.9,
    beta2: config.backbone.family === 'convnext' ? 0.999 : 0.95,
    eps: 1e-6,
    maxGradNorm: 5,
  };
}

function tfjsContender(
  model: TfjsSparkModel,
  peerCase: PeerCase,
  settings: PeerLambSettings,
  cpuForward: boolean,
): Contender {
  let last: tf.Scalar | null = null;
  return {
    step() {
      tf.env().set('WEBGPU_CPU_FORWARD', cpuForward);
      last?.dispose();
      last = model.trainStep(peerCase.images, peerCase.mask.cells, settings);
    },
    async settle() {
      if (last) await last.data();
    },
    release() {
      last?.dispose();
    },
  };
}

/** Milliseconds per step of each contender: median over rounds, rounds alternating between contenders. */
async function timeRounds(
  contenders: Contender[],
  o: { warmup: number; rounds: number; steps: number },
): Promise<number[]> {
  for (const c of contenders) {
    for (let i = 0; i < o.warmup; i++) c.step();
    await c.settle();
  }
  const samples = contenders.map(() => [] as number[]);
  for (let r = 0; r < o.rounds; r++)
    for (const [i, c] of contenders.entries()) {
      const t0 = performance.now();
      for (let s = 0; s < o.steps; s++) c.step();
      await c.settle();
      samples[i].push((performance.now() - t0) / o.steps);
    }
  return samples.map((s) => Number(median(s).toFixed(2)));
}

/** The TF.js WebGPU backend's adapter, in the same words as SparkLab's label where it can tell. */
function tfjsAdapter(): string {
  const backend = tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string } };
  const info = backend.adapterInfo;
  return info ? [info.vendor, info.architecture].filter(Boolean).join(' / ') : 'unknown';
}

/** `npm run bench -- peer-tfjs [--presets a,b] [--batch N] [--warmup N] [--rounds N] [--steps N]`. */
export async function runPeerTfjs(gpu: Gpu, args: string[], emit: Emit): Promise<void> {
  const names = (argValue(args, 'presets')?.split(',') ?? ['tiny']) as PresetName[];
  for (const name of names)
    if (!(name in PRESETS))
      throw new Error(`Unknown preset "${name}"; known: ${Object.keys(PRESETS).join(', ')}.`);
  const software = gpu.summary.isSoftware;
  const timing = {
    warmup: Number(argValue(args, 'warmup') ?? (software ? 1 : 5)),
    rounds: Number(argValue(args, 'rounds') ?? (software ? 3 : 7)),
    steps: Number(argValue(args, 'steps') ?? (software ? 2 : 10)),
  };
  if (!(await tf.setBackend('webgpu'))) throw new Error('TensorFlow.js could not start its WebGPU backend.');
  await tf.ready();
  // A GPU error on either device means some work did not run: such a run's timings are not reported.
  const gpuErrors: string[] = [];
  const tfjsDevice = (tf.backend() as unknown as { device?: GPUDevice }).device;
  tfjsDevice?.addEventListener('uncapturederror', (event) => {
    gpuErrors.push(`TF.js: ${(event as GPUUncapturedErrorEvent).error.message}`);
  });
  const stopListening = gpu.events.on((event) => {
    if (event.kind !== 'device-lost') gpuErrors.push(`SparkLab: ${event.message}`);
  });
  for (const name of names) {
    const config = PRESETS[name] as SparkConfig;
    const batch = Number(argValue(args, 'batch') ?? PRESET_TRAINING[name].batch);
    const peerCase = await sparkLabCase(gpu, config, batch, 0);
    const settings = lambSettings(config, PRESET_TRAINING[name].lr);
    const peer = new TfjsSparkModel(peerCase.config, peerCase.state);
    const contenders: Contender[] = [];
    try {
      tf.env().set('WEBGPU_CPU_FORWARD', true);
      const first = await peer.lossAndGrads(peerCase.images, peerCase.mask.cells);
      const lossTfjs = first.loss;
      const gradients = gradientDifference(first.grads, peerCase.gradsSparkLab);
      const lossDifference = relativeDifference(lossTfjs, peerCase.lossSparkLab);
      const valid = lossDifference <= LOSS_TOLERANCE;
      const record: Record<string, unknown> = {
        case: 'peer-tfjs',
        preset: name,
        batch,
        maskRatio: config.maskRatio,
        lossSparkLab: peerCase.lossSparkLab,
        lossTfjs,
        lossRelativeDifference: Number(lossDifference.toExponential(2)),
        // Reported, not a validity condition: the worst tensor's relative L2 gradient difference.
        gradRelativeDifference: Number(gradients.worst.toExponential(2)),
        gradWorstTensor: gradients.name,
        valid,
      };
      if (!valid) {
        emit({
          ...record,
          invalid: `The TF.js loss differs from SparkLab's by ${lossDifference.toExponential(2)} (bound ${LOSS_TOLERANCE}); no timing.`,
          adapter: gpu.label,
        });
        continue;
      }
      const common = {
        config: peerCase.config,
        batch,
        state: peerCase.state,
        images: peerCase.images,
        mask: peerCase.mask,
        lamb: settings,
      };
      // SparkLab's timed baseline is the official computation (dense-masked); a build without that encoder
      // mode times the zero-filled dense ablation beside sparse instead, for reference.
      const officialMode = hasEncoderMode(peerCase.config, DENSE_MASKED);
      const sparse = sparkLabStep(gpu, { ...common, encoder: 'sparse' });
      contenders.push(sparse);
      const dense = sparkLabStep(gpu, { ...common, encoder: officialMode ? DENSE_MASKED : 'dense-zero' });
      contenders.push(dense);
      contenders.push(tfjsContender(peer, peerCase, settings, true));
      contenders.push(tfjsContender(peer, peerCase, settings, false));
      const [sparseMs, denseMs, tfjsDefaultMs, tfjsNoCpuForwardMs] = await timeRounds(contenders, timing);
      const tfjsMs = Math.min(tfjsDefaultMs, tfjsNoCpuForwardMs);
      if (gpuErrors.length > 0) {
        emit({
          ...record,
          valid: false,
          invalid: `GPU errors during the run: ${gpuErrors.join(' | ')}`,
          adapter: gpu.label,
        });
        gpuErrors.length = 0;
        continue;
      }
      const memory = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
      emit({
        ...record,
        sparkLabMs: officialMode ? denseMs : null,
        sparkLabSparseMs: sparseMs,
        ...(officialMode ? {} : { sparkLabDenseZeroMs: denseMs }),
        tfjsMs,
        tfjsDefaultMs,
        tfjsNoCpuForwardMs,
        ratio: officialMode ? Number((denseMs / tfjsMs).toFixed(3)) : null,
        sparseRatio: Number((sparseMs / tfjsMs).toFixed(3)),
        ...(officialMode ? {} : { denseZeroRatio: Number((denseMs / tfjsMs).toFixed(3)) }),
        sparkLabSparseBytes: sparse.bytes,
        sparkLabDenseBytes: dense.bytes,
        // TF.js's live tensors after the timed steps (variables, moments): not a peak, TF.js keeps no peak.
        tfjsLiveBytesAfter: memory.numBytesInGPU ?? memory.numBytes,
        ...timing,
        adapter: gpu.label,
        tfjsAdapter: tfjsAdapter(),
      });
    } finally {
      for (const c of contenders) c.release();
      peer.dispose();
    }
  }
  stopListening();
}
