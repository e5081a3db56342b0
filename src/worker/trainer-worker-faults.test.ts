import { afterEach, describe, expect, it, vi } from 'vitest';
import { testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import {
  type CheckpointMeta,
  type CheckpointStore,
  MemoryCheckpointStore,
  type StoredCheckpoint,
} from '../io/checkpoint-store';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { Trainer } from '../train/trainer';
import { randomDataset } from '../train/trainer-test-utils';
import type { RunConfig, WorkerEvent } from './protocol';
import { TrainerWorker, type WorkerHost } from './trainer-worker';

/**
 * Faults injected into the real worker, trainer and 8-px model: concurrent calls, a store that fails on
 * save or load, an adapter limit, non-finite imports, and a device lost in each phase (step, pause,
 * snapshot, export, import, restore). Device losses are injected with `Gpu.markLost` and recovered on its
 * successor (same GPUDevice, compiled pipelines kept), so each costs a rebuild, not a compilation.
 */

/** A memory store that fails on demand, as a full quota or a missing IndexedDB does. */
class FlakyStore implements CheckpointStore {
  readonly inner = new MemoryCheckpointStore();
  failSave = false;
  failLoad = false;
  save(name: string, bytes: Uint8Array, meta?: CheckpointMeta): Promise<StoredCheckpoint> {
    if (this.failSave)
      return Promise.reject(
        new Error('The browser refused to store the checkpoint: its storage quota is full.'),
      );
    return this.inner.save(name, bytes, meta);
  }
  load(name: string) {
    if (this.failLoad) return Promise.reject(new Error('This browser has no IndexedDB (private mode?).'));
    return this.inner.load(name);
  }
  list() {
    return this.inner.list();
  }
  delete(name: string) {
    return this.inner.delete(name);
  }
}

function harness() {
  const store = new FlakyStore();
  let current: Gpu | undefined;
  const host: WorkerHost = {
    createGpu: async () => {
      current = current?.isLost
        ? current.successorAfterMarkedLoss('recovered')
        : (current ?? (await testGpu()));
      return current;
    },
    store,
    loadDataset: async (_config, imageSize) => randomDataset(imageSize),
    decodeImage: async () => {
      throw new Error('no images in this test');
    },
  };
  const worker = new TrainerWorker(host);
  const events: WorkerEvent[] = [];
  void worker.subscribe((e) => events.push(e));
  return {
    worker,
    store,
    events,
    loseDevice: () => current?.markLost('injected device loss'),
  };
}

const RUN: RunConfig = {
  preset: 'tiny',
  model: {
    inputSize: 8,
    maskRatio: 0.5,
    decoderWidth: 8,
    backbone: {
      family: 'resnet',
      block: 'basic',
      stemWidth: 4,
      stemKernel: 3,
      stemStride: 1,
      maxpool: false,
      widths: [4],
      depths: [1],
      stageStrides: [2],
    },
  },
  data: { kind: 'fashion-mnist' },
  batchSize: 2,
  steps: 400,
  seed: 1,
  lr: 5e-3,
  metricsEvery: 2,
  checkpointEvery: 0,
};

const visible = (shot: { mask: { data: Uint8Array } }) => shot.mask.data.reduce((a, b) => a + b, 0);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('TrainerWorker faults (real trainer, 8-px model)', () => {
  it('serialises concurrent calls: steps, a mask-ratio change, a snapshot and an export run one at a time (item 7)', async () => {
    const { worker } = harness();
    await worker.configure(RUN);
    const [first, , shot, second, weights] = await Promise.all([
      worker.step(2),
      worker.setMaskRatio(0.75),
      worker.snapshot(1),
      worker.step(2),
      worker.exportWeights(),
    ] as const);
    expect(first.step).toBe(2);
    expect(second.step).toBe(4);
    // The snapshot came after the ratio change (4 of 16 cells visible) and before the second step call.
    expect(shot.step).toBe(2);
    expect(visible(shot)).toBe(4);
    expect(readSafetensors(weights, 'w').metadata.step).toBe('4');
  }, 300_000);

  it('configure checks the adapter limits and builds the new run before dropping the current one (item 6)', async () => {
    const { worker } = harness();
    const { runId } = await worker.configure(RUN);
    await worker.step(2);
    await expect(worker.configure({ ...RUN, batchSize: 1_000_000 })).rejects.toThrow(
      /more than this GPU can bind at once/,
    );
    expect((await worker.step(1)).step).toBe(3);
    expect((await worker.snapshot(1)).runId).toBe(runId);
  }, 300_000);

  it('a failing store: pause still ends paused, periodic checkpoints warn and training goes on, a failed load changes nothing (item 2)', async () => {
    const { worker, store, events } = harness();
    await worker.configure({ ...RUN, checkpointEvery: 2 });
    store.failSave = true;
    await worker.start();
    await expect.poll(() => events.some((e) => e.type === 'warning'), { timeout: 60_000 }).toBe(true);
    await worker.pause();
    expect(worker.runState).toBe('paused');
    const warning = events.find((e) => e.type === 'warning');
    expect(warning).toMatchObject({ kind: 'checkpoint-failed' });
    expect(warning?.type === 'warning' && warning.message).toMatch(
      /could not be stored .*quota is full.*Training goes on/,
    );
    expect(events.some((e) => e.type === 'error')).toBe(false);
    const pausedAt = (await worker.step(1)).step - 1;
    expect(pausedAt).toBeGreaterThan(0);
    // A user's explicit save reports the store's sentence instead.
    await expect(worker.saveCheckpoint('mine')).rejects.toThrow(/quota is full/);
    store.failSave = false;
    await worker.saveCheckpoint('mine');
    store.failLoad = true;
    await expect(worker.restoreCheckpoint('mine')).rejects.toThrow(/no IndexedDB/);
    expect((await worker.step(1)).step).toBe(pausedAt + 2);
  }, 300_000);

  it('snapshots while training are taken at a step boundary without stopping the loop (item 10)', async () => {
    const { worker, events } = harness();
    await worker.configure(RUN);
    const stops = vi.spyOn(Trainer.prototype, 'requestStop');
    await worker.start();
    await expect.poll(() => events.some((e) => e.type === 'metrics'), { timeout: 60_000 }).toBe(true);
    const steps: number[] = [];
    for (let i = 0; i < 3; i++) steps.push((await worker.snapshot(2)).step);
    expect(stops).not.toHaveBeenCalled();
    expect(worker.runState).toBe('running');
    expect(steps[2]).toBeGreaterThan(steps[0]);
    await worker.pause();
    expect(stops).toHaveBeenCalled();
  }, 300_000);

  it('refuses weights with NaN, values beyond f32 or a negative variance, naming the tensor and index (item 8)', async () => {
    const { worker } = harness();
    await worker.configure(RUN);
    await worker.step(1);
    const before = await worker.exportWeights();
    const file = readSafetensors(before.slice(), 'w');
    const poisoned = (pick: (name: string) => boolean, value: number) => {
      const tensors = [...file.tensors].map(([name, t]) => {
        // num_batches_tracked (I64) reads back as bigints.
        const data = Array.from(t.data as ArrayLike<number | bigint>, Number);
        if (pick(name)) data[1] = value;
        return [name, { dtype: t.dtype, shape: t.shape, data }] as never;
      });
      return writeSafetensors(tensors, file.metadata);
    };
    const weight = [...file.tensors.keys()].find((n) => n.endsWith('conv1.weight')) as string;
    const variance = [...file.tensors.keys()].find((n) => n.endsWith('running_var')) as string;
    await expect(worker.importWeights(poisoned((n) => n === weight, Number.NaN))).rejects.toThrow(
      `The imported file cannot be used: ${weight}[1] is NaN.`,
    );
    await expect(worker.importWeights(poisoned((n) => n === variance, -2))).rejects.toThrow(
      `${variance}[1] is -2, but it cannot be negative`,
    );
    expect(await worker.exportWeights()).toEqual(before);
  }, 300_000);

  it("Reset deletes the replaced run's checkpoints; a resumed run keeps saving under its name (item 3)", async () => {
    const { worker, store } = harness();
    const { runId } = await worker.configure(RUN);
    await worker.step(1);
    await worker.saveCheckpoint();
    await worker.saveCheckpoint('kept');
    expect((await store.list()).map((c) => c.name).sort()).toEqual(['kept', runId].sort());
    const fresh = await worker.reset();
    expect((await store.list()).map((c) => c.name)).toEqual(['kept']);
    await worker.restoreCheckpoint('kept');
    await worker.step(1);
    await worker.saveCheckpoint();
    expect((await store.list()).map((c) => c.name)).toEqual(['kept']);
    expect(fresh).not.toBe(runId);
  }, 300_000);

  it('a device lost in each phase (step, pause, snapshot, export, import, restore) is recovered from the last checkpoint', async () => {
    const { worker, events, loseDevice } = harness();
    await worker.configure(RUN);
    await worker.step(2);
    await worker.saveCheckpoint('two');
    const recoveries = () => events.filter((e) => e.type === 'device-lost' && e.recovered).length;

    // step: the steps since the last checkpoint are redone on the new device.
    loseDevice();
    expect((await worker.step(2)).step).toBe(4);
    expect(recoveries()).toBe(1);
    expect(events.find((e) => e.type === 'device-lost')).toMatchObject({ resumedFromStep: 2 });

    // pause: the loop recovers or the pause checkpoint does; either way the run ends paused.
    await worker.start();
    await expect
      .poll(() => events.some((e) => e.type === 'metrics' && e.metrics.step > 4), { timeout: 60_000 })
      .toBe(true);
    loseDevice();
    await worker.pause();
    expect(worker.runState).toBe('paused');
    expect(recoveries()).toBe(2);

    // snapshot, export, import: each is redone once on the recovered device.
    loseDevice();
    expect(visible(await worker.snapshot(2))).toBe(16);
    expect(recoveries()).toBe(3);
    loseDevice();
    const weights = await worker.exportWeights();
    expect(recoveries()).toBe(4);
    loseDevice();
    expect((await worker.importWeights(weights)).loaded).toBeGreaterThan(0);
    expect(recoveries()).toBe(5);

    // restore: the checkpoint is restored on the recovered device.
    loseDevice();
    expect((await worker.restoreCheckpoint('two')).step).toBe(2);
    expect(recoveries()).toBe(6);
    expect((await worker.step(1)).step).toBe(3);
    expect(worker.runState).toBe('paused');
    expect(events.some((e) => e.type === 'error')).toBe(false);
  }, 300_000);
});
