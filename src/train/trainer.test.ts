import { afterAll, describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import { MemoryCheckpointStore } from '../io/checkpoint-store';
import { ConfigError } from '../models/config';
import { createSparkModel } from '../models/spark-model';
import { randomMask } from '../sparse/mask';
import { Rng } from '../util/random';
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
    const phases: string[][] = [];
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
          if (e.type !== 'metrics') return;
          losses.push(e.metrics.loss);
          if (e.metrics.phaseMs) phases.push(Object.keys(e.metrics.phaseMs).sort());
        },
      }),
    );
    const outcome = await trainer.run();
    expect(outcome).toEqual({ status: 'completed', step: 30 });
    // One profiled step per metrics interval, each timed in its three passes.
    expect(gpu.hasTimestamps).toBe(true); // SwiftShader offers timestamp-query, as hardware adapters do
    expect(phases).toHaveLength(30);
    for (const names of phases) expect(names).toEqual(['backward', 'forward', 'optimizer']);
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
    // Only the in-memory checkpoint of step 0 that every trainer starts with: nothing stored.
    expect(trainer.lastCheckpoint?.step).toBe(0);
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

describe('the phase split and parameters without gradients', () => {
  it('forward and backward recorded in two passes give the same loss and gradients as encodeTrainStep', async () => {
    const gpu = await testGpu();
    const model = createSparkModel(gpu, microConfig(), 2);
    try {
      model.initialize(4);
      const images = new Float32Array(2 * 3 * 8 * 8);
      new Rng(8).floats(images.length, -1, 1).forEach((v, i) => {
        images[i] = v;
      });
      const run = async (split: boolean) => {
        model.setBatch(images, randomMask(2, 4, 4, 0.5, 9));
        const encoder = gpu.device.createCommandEncoder({ label: 'phase split test' });
        encoder.clearBuffer(model.params.grads);
        if (split) {
          const forward = encoder.beginComputePass({ label: 'forward' });
          model.encodeTrainForward(forward);
          forward.end();
          const backward = encoder.beginComputePass({ label: 'backward' });
          model.encodeTrainBackward(backward);
          backward.end();
        } else {
          const both = encoder.beginComputePass({ label: 'forward+backward' });
          model.encodeTrainStep(both);
          both.end();
        }
        gpu.device.queue.submit([encoder.finish()]);
        return { loss: (await gpu.read(model.loss))[0], grads: await model.readGrads() };
      };
      const whole = await run(false);
      const split = await run(true);
      // The same kernels in the same order: only the pass boundary differs, so every bit agrees.
      expect(split.loss).toBe(whole.loss);
      expect([...split.grads.keys()]).toEqual([...whole.grads.keys()]);
      for (const [name, g] of whole.grads)
        expect(Array.from(split.grads.get(name)!), name).toEqual(Array.from(g));
      expect([...whole.grads.values()].some((g) => g.some((v) => v !== 0))).toBe(true);
    } finally {
      model.destroy();
    }
  });

  it("the optimiser leaves the densify parameters the decoder never reads bit-identical ('coarsest' ablation)", async () => {
    const gpu = await testGpu();
    const config = microConfig({
      decoderInputs: 'coarsest',
      backbone: {
        family: 'resnet',
        block: 'basic',
        stemWidth: 4,
        stemKernel: 3,
        stemStride: 1,
        maxpool: false,
        widths: [4, 4],
        depths: [1, 1],
        stageStrides: [2, 2],
      },
    });
    const trainer = await make(gpu, options({ config, lr: 1e-2, warmupSteps: 0 }));
    const before = await trainer.capture();
    expect((await trainer.run(3)).step).toBe(3);
    const after = await trainer.capture();
    const unused = [
      'densify_norms.1.weight',
      'densify_norms.1.bias',
      'densify_projs.1.weight',
      'densify_projs.1.bias',
      'mask_tokens.1',
    ];
    for (const name of unused) {
      const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
      expect(bits(after.state.get(name)!), name).toEqual(bits(before.state.get(name)!));
      expect(
        after.expAvg.get(name)!.every((v) => v === 0),
        `${name} exp_avg`,
      ).toBe(true);
      expect(
        after.expAvgSq.get(name)!.every((v) => v === 0),
        `${name} exp_avg_sq`,
      ).toBe(true);
    }
    // A decayed weight with a gradient did move.
    const used = 'densify_projs.0.weight';
    expect(after.state.get(used)!.some((v, i) => v !== before.state.get(used)![i])).toBe(true);
  });
});
