/**
 * `npm run bench -- scaling [--preset tiny] [--sizes 32,64,96] [--batches 2,4,8] [--rounds N] [--steps N]`:
 * SparkLab's whole training step (bench/peer-tfjs/sparklab-step.ts: batch and mask set, forward, backward,
 * LAMB, one submission) against image size and batch for one preset, for `sparse` at the preset's mask ratio
 * and the official dense computation (`dense-masked`; `dense-zero` in a build without it). Milliseconds per
 * step are the median over rounds of (round wall time / steps) after one warm-up step; bytes are the GPU
 * buffers the model and optimiser hold (every buffer is allocated when the model is built, so this is the
 * peak). One JSON line per (size, batch). docs/BENCHMARKS.md "Scaling" has the table and plot
 * (scripts/plot-scaling.mjs).
 */
import type { Gpu } from '../src/gpu/runtime';
import { gridSize, type SparkConfig } from '../src/models/config';
import { PRESET_TRAINING, PRESETS, type PresetName } from '../src/models/presets';
import { randomMask } from '../src/sparse/mask';
import { Rng } from '../src/util/random';
import { argValue, emit, median } from './harness';
import { DENSE_MASKED, hasEncoderMode, sparkLabStep, type TimedStep } from './peer-tfjs/sparklab-step';

function numbers(text: string | undefined, fallback: number[]): number[] {
  return text ? text.split(',').map(Number) : fallback;
}

async function msPerStep(step: TimedStep, rounds: number, steps: number): Promise<number> {
  step.step();
  await step.settle();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) step.step();
    await step.settle();
    samples.push((performance.now() - t0) / steps);
  }
  return Number(median(samples).toFixed(1));
}

export default async function bench(gpu: Gpu, args: string[]): Promise<void> {
  const name = (argValue(args, 'preset') ?? 'tiny') as PresetName;
  if (!(name in PRESETS))
    throw new Error(`Unknown preset "${name}"; known: ${Object.keys(PRESETS).join(', ')}.`);
  const sizes = numbers(argValue(args, 'sizes'), gpu.summary.isSoftware ? [32, 64, 96] : [64, 128, 192, 256]);
  const batches = numbers(argValue(args, 'batches'), gpu.summary.isSoftware ? [2, 4, 8] : [8, 16, 32, 64]);
  const rounds = Number(argValue(args, 'rounds') ?? (gpu.summary.isSoftware ? 2 : 5));
  const steps = Number(argValue(args, 'steps') ?? (gpu.summary.isSoftware ? 1 : 10));
  const base = PRESETS[name] as SparkConfig;
  const dense = hasEncoderMode(base, DENSE_MASKED) ? DENSE_MASKED : 'dense-zero';
  const lamb = {
    lr: PRESET_TRAINING[name].lr,
    weightDecay: 0.04,
    beta1: 0.9,
    beta2: base.backbone.family === 'convnext' ? 0.999 : 0.95,
    eps: 1e-6,
    maxGradNorm: 5,
  };
  for (const size of sizes)
    for (const batch of batches) {
      const config: SparkConfig = { ...base, inputSize: size };
      const g = gridSize(config);
      const images = new Rng(size * 100 + batch).normals(batch * 3 * size * size);
      const mask = randomMask(batch, g, g, config.maskRatio, batch);
      const record: Record<string, unknown> = {
        case: 'scaling',
        preset: name,
        size,
        batch,
        maskRatio: config.maskRatio,
      };
      for (const encoder of ['sparse', dense] as const) {
        const step = sparkLabStep(gpu, { config, encoder, batch, seed: 0, images, mask, lamb });
        try {
          const key = encoder === 'sparse' ? 'sparse' : encoder === 'dense-zero' ? 'denseZero' : 'dense';
          record[`${key}Ms`] = await msPerStep(step, rounds, steps);
          record[`${key}Bytes`] = step.bytes;
        } finally {
          step.release();
          gpu.trimPool();
        }
      }
      emit({ ...record, rounds, steps, adapter: gpu.label });
    }
}
