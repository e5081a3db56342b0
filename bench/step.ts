/**
 * `npm run bench -- step [--presets a,b] [--batch N] [--ratios 0.25,0.6] [--steps N] [--rounds N]
 * [--warmup N] [--modes sparse,dense-masked,dense-zero] [--profile]`: the whole training step (forward,
 * loss, backward, optimiser, NaN guard: one submission, no per-step read-back) of the gathered `sparse`
 * encoder against the official computation (`dense-masked`: dense convs re-masked after every layer, the same
 * numbers at visible sites) and, for reference, the zero-outing ablation (`dense-zero`), in the same process
 * on the same adapter. Each (preset, ratio) builds one trainer per mode, warms each up, then times `rounds`
 * rounds of `steps` steps, the modes taking turns within a round so that machine load hits them alike; a
 * round's time is its wall time to the one read-back at its end, divided by its steps; the figure is the
 * median over rounds. Peak GPU bytes: the buffer registry's peak while the mode's trainer was made and
 * warmed up, above what was live before (model, optimiser state, scratch).
 *
 * One JSON line per (preset, ratio). `--profile` times every dispatch instead (./profile-step.ts).
 *
 * `runStepBench` takes the device and a data source, so that the page can run the same benchmark.
 */
import type { Dataset } from '../src/data/datasets';
import type { Gpu } from '../src/gpu/runtime';
import type { EncoderMode, SparkConfig } from '../src/models/config';
import { PRESET_TRAINING, PRESETS, type PresetName, preset } from '../src/models/presets';
import { countFlops } from '../src/train/flops';
import { Trainer } from '../src/train/trainer';
import type { Rng } from '../src/util/random';
import { argValue, median } from './harness';

export const DEFAULT_RATIOS = [0.25, 0.5, 0.6, 0.75, 0.9];
const MODES: readonly EncoderMode[] = ['sparse', 'dense-masked', 'dense-zero'];

export interface StepBenchOptions {
  presets: PresetName[];
  /** Images per step; default: the preset's training batch (4 on a software adapter). */
  batch?: number;
  ratios?: number[];
  /** Timed steps per round (default 3). */
  steps?: number;
  /** Timed rounds; the median is reported (default 3). */
  rounds?: number;
  /** Untimed steps per trainer first (pipelines, pools; default 2). */
  warmup?: number;
  /** Which encoders to time (default all three; sparse and dense-masked make the ratios). */
  modes?: readonly EncoderMode[];
  /** Images for every step (default: synthetic standard normals, so the figure is the model's alone). */
  dataset?: (size: number) => Dataset;
  /** Where each result line goes (default console.log of its JSON). */
  emit?: (line: StepBenchLine) => void;
}

export interface StepBenchLine {
  case: 'step';
  preset: string;
  batch: number;
  maskRatio: number;
  /** Median milliseconds per step; null for a mode not timed. */
  sparseMs: number | null;
  denseMs: number | null;
  denseZeroMs: number | null;
  /** sparseMs / denseMs (dense-masked). */
  timeRatio: number | null;
  /** FLOPs of the step's model with the sparse encoder over those with a dense one (countFlops). */
  flopRatio: number;
  /** The target at this ratio: timeRatio ≤ 1 − 0.8·(1 − flopRatio). */
  timeRatioTarget: number;
  meetsTarget: boolean | null;
  /** Dispatches per training step of the sparse encoder (and of dense-masked). */
  dispatches: number | null;
  denseDispatches: number | null;
  /** Peak GPU bytes of each mode's trainer. */
  sparseBytes: number | null;
  denseBytes: number | null;
  denseZeroBytes: number | null;
  steps: number;
  rounds: number;
  timing: 'wall';
  adapter: string;
}

/** Synthetic normal images (the official normalisation's output distribution), drawn from the step's rng. */
export function syntheticDataset(size: number): Dataset {
  return {
    name: 'synthetic',
    imageSize: size,
    normalization: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    trainCount: 1,
    heldOutCount: 1,
    trainBatch(batch: number, rng: Rng, out?: Float32Array) {
      const o = out ?? new Float32Array(batch * 3 * size * size);
      for (let i = 0; i < o.length; i++) o[i] = rng.normal();
      return o;
    },
    heldOutBatch: (count: number) => new Float32Array(count * 3 * size * size),
  };
}

interface ModeRun {
  mode: EncoderMode;
  trainer: Trainer;
  bytes: number;
  samples: number[];
}

/** Runs `steps` steps and returns wall milliseconds per step, up to their single read-back. */
async function timeSteps(trainer: Trainer, steps: number): Promise<number> {
  const start = performance.now();
  const outcome = await trainer.run(steps);
  const ms = performance.now() - start;
  if (outcome.status !== 'completed')
    throw new Error(`The benchmark's training run stopped early (${outcome.status}).`);
  return ms / steps;
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}

/** Trainer options shared by the step benchmark and the profiler. */
export function benchTrainer(
  gpu: Gpu,
  config: SparkConfig,
  name: PresetName,
  batch: number,
  totalSteps: number,
  dataset: Dataset,
): Promise<Trainer> {
  return Trainer.create(gpu, {
    config,
    batch,
    totalSteps,
    seed: 0,
    dataset,
    lr: PRESET_TRAINING[name].lr,
    // One read-back per timed round (and per warm-up).
    metricsEvery: 1_000_000,
    checkpointEvery: 0,
  });
}

export async function runStepBench(gpu: Gpu, options: StepBenchOptions): Promise<StepBenchLine[]> {
  const steps = options.steps ?? 3;
  const rounds = options.rounds ?? 3;
  const warmup = options.warmup ?? 2;
  const ratios = options.ratios ?? DEFAULT_RATIOS;
  const modes = options.modes ?? MODES;
  const makeData = options.dataset ?? syntheticDataset;
  const emit = options.emit ?? ((line: StepBenchLine) => console.log(JSON.stringify(line)));
  const lines: StepBenchLine[] = [];
  for (const name of options.presets) {
    if (!(name in PRESETS))
      throw new Error(`Unknown preset "${name}"; known: ${Object.keys(PRESETS).join(', ')}.`);
    const batch = options.batch ?? (gpu.summary.isSoftware ? 4 : PRESET_TRAINING[name].batch);
    for (const maskRatio of ratios) {
      const base: SparkConfig = { ...preset(name), maskRatio };
      const runs: ModeRun[] = [];
      try {
        for (const mode of modes) {
          const before = gpu.liveBuffers().bytes;
          gpu.resetPeakBytes();
          const config = { ...base, encoder: mode };
          const trainer = await benchTrainer(
            gpu,
            config,
            name,
            batch,
            warmup + rounds * steps,
            makeData(config.inputSize),
          );
          runs.push({ mode, trainer, bytes: 0, samples: [] });
          if (warmup > 0) await timeSteps(trainer, warmup);
          runs[runs.length - 1].bytes = gpu.peakLiveBytes - before;
        }
        for (let r = 0; r < rounds; r++)
          for (const run of runs) run.samples.push(await timeSteps(run.trainer, steps));
        const of = (mode: EncoderMode) => runs.find((r) => r.mode === mode);
        const ms = (mode: EncoderMode) => {
          const run = of(mode);
          return run ? round(median(run.samples), 2) : null;
        };
        const sparseMs = ms('sparse');
        const denseMs = ms('dense-masked');
        const flops = countFlops({ ...base, encoder: 'sparse' });
        const flopRatio = flops.masked / flops.dense;
        const target = 1 - 0.8 * (1 - flopRatio);
        const timeRatio = sparseMs !== null && denseMs ? sparseMs / denseMs : null;
        const line: StepBenchLine = {
          case: 'step',
          preset: name,
          batch,
          maskRatio,
          sparseMs,
          denseMs,
          denseZeroMs: ms('dense-zero'),
          timeRatio: timeRatio === null ? null : round(timeRatio, 3),
          flopRatio: round(flopRatio, 3),
          timeRatioTarget: round(target, 3),
          meetsTarget: timeRatio === null ? null : timeRatio <= target,
          dispatches: of('sparse')?.trainer.lastMetrics?.dispatches ?? null,
          denseDispatches: of('dense-masked')?.trainer.lastMetrics?.dispatches ?? null,
          sparseBytes: of('sparse')?.bytes ?? null,
          denseBytes: of('dense-masked')?.bytes ?? null,
          denseZeroBytes: of('dense-zero')?.bytes ?? null,
          steps,
          rounds,
          timing: 'wall',
          adapter: gpu.label,
        };
        lines.push(line);
        emit(line);
      } finally {
        for (const run of runs) run.trainer.destroy();
      }
    }
  }
  return lines;
}

function numberList(text: string | undefined, flag: string): number[] | undefined {
  if (text === undefined) return undefined;
  const values = text.split(',').map(Number);
  if (values.some((v) => !Number.isFinite(v)))
    throw new Error(`--${flag} takes numbers separated by commas, not "${text}".`);
  return values;
}

export default async function bench(gpu: Gpu, args: string[]): Promise<void> {
  const count = (flag: string) => {
    const text = argValue(args, flag);
    if (text === undefined) return undefined;
    const v = Number(text);
    if (!Number.isInteger(v) || v < 0) throw new Error(`--${flag} must be a whole number, not "${text}".`);
    return v;
  };
  const presets = (argValue(args, 'presets')?.split(',') ?? [
    'tiny',
    'resnet-s8-32',
    'resnet-s16-64',
  ]) as PresetName[];
  const modes = argValue(args, 'modes')?.split(',') as EncoderMode[] | undefined;
  const options: StepBenchOptions = {
    presets,
    batch: count('batch'),
    ratios: numberList(argValue(args, 'ratios'), 'ratios'),
    steps: count('steps'),
    rounds: count('rounds'),
    warmup: count('warmup'),
    modes,
  };
  if (args.includes('--profile')) {
    const { runStepProfile } = await import('./profile-step');
    await runStepProfile(gpu, options);
    return;
  }
  await runStepBench(gpu, options);
}
