import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { GpuRunError } from '../gpu/errors';
import { createSparkModel } from '../models/spark-model';
import { readTrainerCheckpoint, writeTrainerCheckpoint } from './checkpoint';
import { Trainer, type TrainerEvent } from './trainer';
import { expectSameState, options, randomDataset } from './trainer-test-utils';

/**
 * Faults injected into the trainer on the real 8-px model: a GPU validation error inside a step and inside
 * the build, a state that went non-finite outside the guard, a restore that must fail without changing
 * anything, and the buffer pool after a run is destroyed. (Device loss and store failures: the worker's
 * fault tests; the first device loss, bit for bit: trainer-recovery.test.ts.)
 */
describe('Trainer faults (8-px ResNet, batch 2)', () => {
  it('a GPU validation error in step 3 stops the run with a sentence instead of training on (item 1)', async () => {
    const gpu = await testGpu();
    let encoded = 0;
    const trainer = await Trainer.create(
      gpu,
      options({
        createModel: (g, config, batch) => {
          const model = createSparkModel(g, config, batch);
          const forward = model.encodeTrainForward.bind(model);
          // Step 3 dispatches more workgroups than the device allows: its pass, command buffer and
          // submission are invalid, and the GPU does none of the step's work.
          model.encodeTrainForward = (pass) => {
            forward(pass);
            if (++encoded === 3)
              pass.dispatchWorkgroups(g.device.limits.maxComputeWorkgroupsPerDimension + 1);
          };
          return model;
        },
      }),
    );
    const run = trainer.run(8);
    await expect(run).rejects.toBeInstanceOf(GpuRunError);
    await expect(run).rejects.toThrow(
      /^The GPU refused the work of step 3 \(validation error: .*\), so the run was stopped rather than go on with wrong numbers\..*The checkpoint of step 0 is kept/s,
    );
    trainer.destroy();
  }, 300_000);

  it('a GPU error while building the model rejects Trainer.create with a sentence (item 1)', async () => {
    const gpu = await testGpu();
    const attempt = Trainer.create(
      gpu,
      options({
        createModel: (g, config, batch) => {
          const model = createSparkModel(g, config, batch);
          // An invalid buffer descriptor (MAP_READ with STORAGE), as a failed allocation would raise.
          g.device.createBuffer({ label: 'broken', size: 16, usage: 0x01 | 0x80 });
          return model;
        },
      }),
    );
    await expect(attempt).rejects.toThrow(
      /^The GPU refused the work of building the model \(validation error/,
    );
  }, 300_000);

  it('NaN at a chosen step: rolled back by the guard with a checkpoint; without one, a state poisoned outside the guard falls back to step 0 and says so (item 8)', async () => {
    const gpu = await testGpu();
    // With periodic checkpoints: batch 5 is poisoned, the run pauses at step 4 with the state of step 4.
    const withCheckpoints = await Trainer.create(
      gpu,
      options({ dataset: randomDataset(8, [5]), checkpointEvery: 2, metricsEvery: 1 }),
    );
    const checkpointed = await withCheckpoints.run(8);
    expect(checkpointed).toMatchObject({ status: 'paused', step: 4, reason: 'non-finite' });
    expect(checkpointed.status === 'paused' && checkpointed.message).toMatch(
      /Step 5 produced .* restored to step 4/,
    );
    withCheckpoints.destroy();

    // Without: a BN variance goes NaN behind the guard's back (it only watches loss and gradient norm), then
    // batch 4 is poisoned. Restoring the guard's backup would keep the NaN statistics.
    const events: TrainerEvent[] = [];
    const trainer = await Trainer.create(
      gpu,
      options({ dataset: randomDataset(8, [4]), metricsEvery: 1, onEvent: (e) => events.push(e) }),
    );
    await trainer.run(2);
    const stats = trainer.model.stats.whole('values');
    gpu.write(stats, new Float32Array(4).fill(Number.NaN));
    const outcome = await trainer.run(6);
    expect(outcome).toMatchObject({ status: 'paused', step: 0, reason: 'non-finite' });
    expect(outcome.status === 'paused' && outcome.message).toMatch(
      /state before it was not finite either, so the checkpoint of step 0 was restored/,
    );
    expect((await gpu.read(stats)).every(Number.isFinite)).toBe(true);
    expect(events.find((e) => e.type === 'rolled-back')).toMatchObject({ toStep: 0 });
    trainer.destroy();
  }, 300_000);

  it('a restore that fails changes nothing: no optimiser counters, a negative variance (item 4)', async () => {
    const gpu = await testGpu();
    const trainer = await Trainer.create(gpu, options());
    await trainer.run(3);
    const before = await trainer.capture();
    const other = await Trainer.create(gpu, options({ seed: 9, runId: 'other-run', totalSteps: 50 }));
    await other.run(2);
    const theirs = await other.capture();
    other.destroy();
    const withoutCounters = writeTrainerCheckpoint({
      ...theirs,
      progress: { ...theirs.progress, optimizerSteps: undefined } as never,
    });
    await expect(trainer.restoreBytes(withoutCounters, 'x.safetensors')).rejects.toThrow(
      'x.safetensors: the training progress has optimizerSteps missing; it cannot resume training.',
    );
    const name = [...theirs.state.keys()].find((n) => n.endsWith('running_var')) as string;
    theirs.state.get(name)![0] = -1;
    await expect(trainer.restoreBytes(writeTrainerCheckpoint(theirs), 'y')).rejects.toThrow(
      /cannot be negative/,
    );
    expect(trainer.runId).toBe(before.progress.runId);
    expectSameState(before, await trainer.capture());
    // And a good one still restores.
    theirs.state.get(name)![0] = 1;
    await trainer.restoreBytes(writeTrainerCheckpoint(theirs), 'z');
    expect(trainer.progress()).toEqual(readTrainerCheckpoint(writeTrainerCheckpoint(theirs)).progress);
    trainer.destroy();
  }, 300_000);

  it('destroying a run leaves no pooled buffers behind (item 9)', async () => {
    const gpu = await testGpu();
    const trainer = await Trainer.create(gpu, options());
    await trainer.run(2);
    await trainer.setMaskRatio(0.75);
    trainer.destroy();
    expect(gpu.liveBuffers().pooledBytes).toBe(0);
  }, 300_000);
});
