/**
 * `npm run bench -- train [--presets a,b] [--batch N] [--steps N]`: training step time per preset — the
 * whole step (one submission: forward, loss, backward, optimiser, guard) measured over N steps after two
 * warm-up steps, with the GPU time of the two passes from timestamp queries when the adapter has them.
 * Synthetic normal images, so the figure is the model's and not the data loader's.
 */
import type { Gpu } from '../src/gpu/runtime';
import { PRESET_TRAINING, PRESETS, type PresetName, preset } from '../src/models/presets';
import { countFlops, sparkParameterCount } from '../src/train/flops';
import { Trainer } from '../src/train/trainer';
import { syntheticDataset } from './step';

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

export default async function bench(gpu: Gpu, args: string[]): Promise<void> {
  const names = (option(args, 'presets')?.split(',') ?? Object.keys(PRESETS)) as PresetName[];
  const steps = Number(option(args, 'steps') ?? 10);
  for (const name of names) {
    const config = preset(name);
    const batch = Number(option(args, 'batch') ?? PRESET_TRAINING[name].batch);
    const trainer = await Trainer.create(gpu, {
      config,
      batch,
      totalSteps: steps + 3,
      seed: 0,
      dataset: syntheticDataset(config.inputSize),
      lr: PRESET_TRAINING[name].lr,
      metricsEvery: steps,
      checkpointEvery: 0,
    });
    await trainer.run(2);
    const start = performance.now();
    await trainer.run(steps);
    const ms = (performance.now() - start) / steps;
    const flops = countFlops(config);
    console.log(
      JSON.stringify({
        case: `train-step ${name}`,
        adapter: gpu.label,
        batch,
        stepMs: Number(ms.toFixed(2)),
        imagesPerSecond: Number(((batch * 1000) / ms).toFixed(1)),
        gpuPhaseMs: trainer.lastMetrics?.phaseMs,
        parameters: sparkParameterCount(config),
        gflopPerImageMasked: Number((flops.masked / 1e9).toFixed(4)),
        achievedGflops: Number((((3 * flops.masked * batch) / ms) * 1e-6).toFixed(2)),
      }),
    );
    trainer.destroy();
  }
}
