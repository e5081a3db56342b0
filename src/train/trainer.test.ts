import { afterAll, describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import { MemoryCheckpointStore } from '../io/checkpoint-store';
import { ConfigError } from '../models/config';
import { randomMask } from '../sparse/mask';
import { readTrainerCheckpoint } from './checkpoint';
import { Trainer, type TrainerEvent, type TrainerOptions, validateTrainingSetup } from './trainer';
import { expectSameState, fixedDataset, microConfig, options, randomDataset } from './trainer-test-utils';

const created: Trainer[] = [];
async function make(gpu: Gpu, opts: TrainerOptions): Promise<Trainer> {
  const trainer = await Trainer.create(gpu, opts);
  created.push(trainer);
  return trainer;
}
afterAll(() => {
  for (const t of created) {
    try {
      t.destroy();
    } catch {
      // Trainers on a destroyed device have nothing left to free.
    }
  }
});

describe('validateTrainingSetup (before any GPU work)', () => {
  it('explains a batch of 1, an image size the stride does not divide, and a grid with no visible cell', () => {
    expect(() => validateTrainingSetup(microConfig(), 1, 10)).toThrow(/at least 2, got 1: BatchNorm/);
    expect(() => validateTrainingSetup(microConfig({ inputSize: 9 }), 2, 10)).toThrow(
      /image size 9 is not divisible by the encoder's total stride 2/,
    );
    expect(() => validateTrainingSetup(microConfig({ maskRatio: 0.99 }), 2, 10)).toThrow(
      /keeps no cell visible/,
    );
    expect(() => validateTrainingSetup(microConfig(), 2, 0)).toThrow(/positive whole number/);
  });

  it('compares the largest activation with the adapter limits', () => {
    const limits = { maxStorageBufferBindingSize: 4096, maxBufferSize: 1 << 30 };
    expect(() => validateTrainingSetup(microConfig(), 64, 10, limits)).toThrow(
      /more than this GPU can bind at once .* Use a smaller batch/,
    );
    expect(
      validateTrainingSetup(microConfig(), 2, 10, { ...limits, maxStorageBufferBindingSize: 1 << 27 }),
    ).toBeTruthy();
  });

  it('Trainer.create rejects a bad setup without allocating a GPU buffer', async () => {
    const gpu = await testGpu();
    const before = gpu.liveBuffers();
    await expect(Trainer.create(gpu, options({ batch: 1 }))).rejects.toBeInstanceOf(ConfigError);
    await expect(Trainer.create(gpu, options({ dataset: randomDataset(16) }))).rejects.toThrow(
      /dataset makes 16-px images but the model expects 8 px/,
    );
    expect(gpu.liveBuffers()).toEqual(before);
  });
});

describe('Trainer on the real GPU SparK model (8-px ResNet, batch 2)', () => {
  it('overfits a fixed batch and mask (AdamW): the loss falls below 30% of its first value', async () => {
    const gpu = await testGpu();
    const mask = randomMask(2, 4, 4, 0.5, 5);
    const losses: number[] = [];
    const trainer = await make(
      gpu,
      options({
        dataset: fixedDataset(8, 2),
        maskSource: () => mask,
        // AdamW: LAMB's trust ratio scales each update to lr·‖p‖, which memorises a batch far more slowly;
        // the other tests run the default LAMB.
        optimizer: 'adamw',
        lr: 1e-2,
        warmupSteps: 0,
        totalSteps: 30,
        metricsEvery: 1,
        onEvent: (e) => {
          if (e.type === 'metrics') losses.push(e.metrics.loss);
        },
      }),
    );
    const outcome = await trainer.run();
    expect(outcome).toEqual({ status: 'completed', step: 30 });
    expect(losses).toHaveLength(30);
    expect(losses[0]).toBeGreaterThan(0.1);
    expect(losses[29]).toBeLessThan(0.3 * losses[0]);
  });

  it('is deterministic for a seed, and a checkpoint round trip is bit-identical and continues identically', async () => {
    const gpu = await testGpu();
    const store = new MemoryCheckpointStore();
    const a = await make(gpu, options({ store, checkpointName: 'a' }));
    const b = await make(gpu, options());
    await a.run(4);
    await b.run(4);
    const capturedA = await a.capture();
    expectSameState(capturedA, await b.capture());

    const bytes = await a.checkpoint();
    const { bytes: stored } = await store.load('a');
    expect(stored).toEqual(bytes);
    // A third trainer of another seed takes the checkpoint over and must then equal `a` in every bit.
    const c = await make(gpu, options({ seed: 11 }));
    const progress = await c.restoreBytes(stored, 'a.safetensors');
    expect(progress.step).toBe(4);
    expectSameState(capturedA, await c.capture());
    expectSameState(capturedA, readTrainerCheckpoint(bytes));

    const lossA: number[] = [];
    const lossC: number[] = [];
    await a.run(3);
    await c.run(3);
    lossA.push(a.lastMetrics!.loss);
    lossC.push(c.lastMetrics!.loss);
    expect(lossC).toEqual(lossA);
    expectSameState(await a.capture(), await c.capture());
  });

  it('a NaN step is discarded: state restored to the step before it, batch skipped, run paused with a sentence', async () => {
    const gpu = await testGpu();
    const events: TrainerEvent[] = [];
    // Batch 5 holds a NaN pixel; metrics come back every 3 steps, so steps 6 and beyond are queued on top.
    const poisoned = await make(
      gpu,
      options({ dataset: randomDataset(8, [5]), onEvent: (e) => events.push(e) }),
    );
    const clean = await make(gpu, options({ dataset: randomDataset(8) }));
    const outcome = await poisoned.run(9);
    expect(outcome.status).toBe('paused');
    expect(outcome.step).toBe(4);
    if (outcome.status !== 'paused') return;
    expect(outcome.message).toMatch(/^Step 5 produced a non-finite loss \(NaN\), so it was discarded/);
    expect(events).toContainEqual({ type: 'rolled-back', fromStep: 9, toStep: 4, message: outcome.message });
    expect(events.some((e) => e.type === 'paused' && e.reason === 'non-finite')).toBe(true);

    // Nothing else is lost: the state equals a clean run's after 4 steps, apart from the data generator,
    // which has moved past the poisoned batch.
    await clean.run(4);
    const restored = await poisoned.capture();
    const reference = await clean.capture();
    expect(restored.progress.dataRngState).not.toBe(reference.progress.dataRngState);
    restored.progress.dataRngState = reference.progress.dataRngState;
    restored.progress.maskRngState = reference.progress.maskRngState;
    expectSameState(reference, restored);

    // Resuming trains on the next batch with finite values.
    const resumed = await poisoned.run(3);
    expect(resumed).toEqual({ status: 'completed', step: 7 });
    expect(Number.isFinite(poisoned.lastMetrics!.loss)).toBe(true);
  });

  it('a NaN found while preparing a checkpoint rolls back instead of saving the bad state', async () => {
    const gpu = await testGpu();
    const store = new MemoryCheckpointStore();
    // Batch 4 is poisoned and the checkpoint after step 4 is the first read-back (metrics every 10 steps).
    const trainer = await make(
      gpu,
      options({ dataset: randomDataset(8, [4]), metricsEvery: 10, checkpointEvery: 4, store }),
    );
    const outcome = await trainer.run(6);
    expect(outcome).toMatchObject({ status: 'paused', step: 3, reason: 'non-finite' });
    expect(trainer.lastCheckpoint).toBeUndefined();
    expect(await store.list()).toEqual([]);
  });

  it('held-out evaluation is repeatable and uses eval mode (no state change)', async () => {
    const gpu = await testGpu();
    const trainer = await make(gpu, options());
    await trainer.run(3);
    const before = await trainer.capture();
    const images = randomDataset(8).heldOutBatch(6);
    const first = await trainer.evaluate(images);
    const second = await trainer.evaluate(images);
    expect(Number.isFinite(first)).toBe(true);
    expect(second).toBe(first);
    expectSameState(before, await trainer.capture());
  });

  it('changing the mask ratio rebuilds the model around the same state', async () => {
    const gpu = await testGpu();
    const trainer = await make(gpu, options());
    await trainer.run(2);
    const before = await trainer.capture();
    await trainer.setMaskRatio(0.75);
    expect(trainer.config.maskRatio).toBe(0.75);
    const after = await trainer.capture();
    expect(after.config.maskRatio).toBe(0.75);
    after.config.maskRatio = before.config.maskRatio;
    expectSameState(before, after);
    expect((await trainer.run(2)).step).toBe(4);
    const snapshot = await trainer.snapshot();
    // 0.75 of 16 cells masked leaves 4 visible per image.
    expect(snapshot.mask.cells.reduce((a, b) => a + b, 0)).toBe(8);
  });
});
