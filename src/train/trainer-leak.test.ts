import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { MemoryCheckpointStore } from '../io/checkpoint-store';
import { Trainer } from './trainer';
import { microConfig, options, randomDataset } from './trainer-test-utils';

/**
 * 1,000 steps of the real model (4-px images, 2×2 mask grid: the cheapest configuration the method allows)
 * with checkpoints, held-out evaluations and snapshots in between: after warm-up, the runtime's registry of
 * live GPU buffers (count and bytes) and its pool must not change. Its own file: it takes a few minutes on
 * SwiftShader.
 */
describe('Trainer buffer-leak check', () => {
  it('1,000 steps leave the live GPU buffers (count and bytes) and the pool unchanged', async () => {
    const gpu = await testGpu();
    const config = microConfig({ inputSize: 4 });
    const dataset = randomDataset(4);
    const trainer = await Trainer.create(
      gpu,
      options({
        config,
        dataset,
        totalSteps: 1200,
        metricsEvery: 25,
        checkpointEvery: 100,
        store: new MemoryCheckpointStore(),
      }),
    );
    const heldOut = dataset.heldOutBatch(4);
    // Warm-up: every kind of work once, so pools and caches reach their steady state.
    await trainer.run(100);
    await trainer.evaluate(heldOut);
    await trainer.snapshot();
    await trainer.run(20);
    const before = gpu.liveBuffers();
    const pipelines = gpu.pipelineCount;
    for (let i = 0; i < 4; i++) {
      await trainer.run(250);
      await trainer.evaluate(heldOut);
      await trainer.snapshot();
    }
    expect(trainer.step).toBe(1120);
    expect(gpu.liveBuffers()).toEqual(before);
    expect(gpu.pipelineCount).toBe(pipelines);
    trainer.destroy();
  }, 1_200_000);
});
