import type * as Comlink from 'comlink';
import { afterAll, describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { MemoryCheckpointStore } from '../io/checkpoint-store';
import { readOfficial } from '../io/pth/official-read';
import { readPthBytes } from '../io/pth/read';
import { randomDataset } from '../train/trainer-test-utils';
import { connectTrainer, exposeTrainer, type RunConfig, subscribeEvents, type WorkerEvent } from './protocol';
import { TrainerWorker, type WorkerHost } from './trainer-worker';

/**
 * The real worker class and the real trainer and model, spoken to through comlink over a MessageChannel as
 * the UI does; only the host services are Node ones (test device, memory store, synthetic data).
 */
const channels: MessageChannel[] = [];
function connect(host: WorkerHost) {
  const worker = new TrainerWorker(host);
  const channel = new MessageChannel();
  channels.push(channel);
  exposeTrainer(worker, channel.port1 as unknown as Comlink.Endpoint);
  return { worker, remote: connectTrainer(channel.port2 as unknown as Comlink.Endpoint) };
}
afterAll(() => {
  for (const c of channels) {
    c.port1.close();
    c.port2.close();
  }
});

const store = new MemoryCheckpointStore();
const host: WorkerHost = {
  createGpu: () => testGpu(),
  store,
  loadDataset: async (_config, imageSize) => randomDataset(imageSize),
  decodeImage: async () => {
    throw new Error('no images in this test');
  },
};

const RUN: RunConfig = {
  preset: 'tiny',
  // The 8-px micro model of the trainer tests, expressed as overrides of a preset.
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
  steps: 8,
  seed: 1,
  lr: 5e-3,
  metricsEvery: 2,
  checkpointEvery: 0,
};

describe('TrainerWorker over comlink (real trainer, 8-px model)', () => {
  it('configure validates first, steps, snapshots, exports/imports, checkpoints, runs to the end', async () => {
    const { remote } = connect(host);
    const events: WorkerEvent[] = [];
    await subscribeEvents(remote, (e) => events.push(e));

    await expect(remote.configure({ ...RUN, batchSize: 1 })).rejects.toThrow(/at least 2, got 1: BatchNorm/);
    const configured = await remote.configure(RUN);
    expect(configured.model.inputSize).toBe(8);
    expect(configured.parameterCount).toBeGreaterThan(0);

    const stepped = await remote.step(3);
    expect(stepped.step).toBe(3);
    expect(Number.isFinite(stepped.metrics?.loss)).toBe(true);

    const shot = await remote.snapshot(2);
    expect(shot.images).toBe(2);
    expect(shot.input).toHaveLength(2 * 3 * 8 * 8);
    expect(shot.composite).toHaveLength(2 * 3 * 8 * 8);
    expect(shot.mask).toMatchObject({ stride: 2, height: 4, width: 4 });
    // Mask ratio 0.5 on 4×4 cells keeps 8 visible per image.
    expect(shot.mask.data.reduce((a, b) => a + b, 0)).toBe(16);
    expect(shot.histograms.visibleFraction).toBeCloseTo(0.5, 6);

    const weights = await remote.exportWeights();
    const imported = await remote.importWeights(weights);
    expect(imported.unexpected).toEqual([]);
    expect(imported.loaded).toBeGreaterThan(0);
    const encoder = await remote.exportEncoder();
    expect(encoder.byteLength).toBeGreaterThan(0);
    // The official .pth of the page's export menu opens as the same model with its optimizer at step 3.
    const official = await readOfficial(await readPthBytes(await remote.exportPth('official-pth')));
    expect(official.config.backbone).toEqual(RUN.model?.backbone);
    expect(official.optimizer?.steps).toEqual({ decay: 3, noDecay: 3 });
    const timmBytes = await remote.exportPth('timm-pth');
    const timm = await readPthBytes(timmBytes);
    expect([...(timm.root as Map<string, unknown>).keys()][0]).toBe('conv1.weight');
    // "Import weights…" takes the .pth files too: the official checkpoint whole, the encoder into the run.
    expect((await remote.importWeights(await remote.exportPth('official-pth'))).loaded).toBe(
      official.state.size,
    );
    expect((await remote.importWeights(timmBytes)).loaded).toBe(timm.tensors.length);

    const saved = await remote.saveCheckpoint('manual');
    expect(saved).toMatchObject({ name: 'manual', step: 3 });
    expect((await remote.listCheckpoints()).map((c) => c.name)).toContain('manual');

    await remote.setMaskRatio(0.75);
    const after = await remote.snapshot(1);
    expect(after.mask.data.reduce((a, b) => a + b, 0)).toBe(4);

    await remote.start();
    await expect
      .poll(() => events.some((e) => e.type === 'paused' && e.reason === 'finished'), { timeout: 60_000 })
      .toBe(true);
    expect(events.some((e) => e.type === 'state' && e.state === 'finished')).toBe(true);
    expect(events.filter((e) => e.type === 'metrics').length).toBeGreaterThan(0);
  }, 120_000);

  it('after a "reload", restoreCheckpoint configures the run from the checkpoint and continues from its step', async () => {
    const { remote } = connect(host);
    const info = await remote.restoreCheckpoint('manual');
    expect(info.step).toBe(3);
    const stepped = await remote.step(1);
    expect(stepped.step).toBe(4);
    await expect(remote.restoreCheckpoint('missing')).rejects.toThrow(/no checkpoint named "missing"/);
  }, 120_000);

  it('pause stops a running loop after the step in flight, saves a checkpoint and lets the user step by hand', async () => {
    const { remote } = connect(host);
    const events: WorkerEvent[] = [];
    await subscribeEvents(remote, (e) => events.push(e));
    await remote.configure({ ...RUN, steps: 200 });
    await remote.start();
    await expect.poll(() => events.some((e) => e.type === 'metrics'), { timeout: 60_000 }).toBe(true);
    await remote.pause();
    // Events travel through their own messages: wait for the announcement.
    await expect.poll(() => events.some((e) => e.type === 'paused'), { timeout: 10_000 }).toBe(true);
    const paused = events.find((e) => e.type === 'paused');
    expect(paused).toMatchObject({ type: 'paused', reason: 'user' });
    const step = paused?.type === 'paused' ? paused.step : -1;
    expect(step).toBeGreaterThan(0);
    expect(step).toBeLessThan(200);
    expect(events).toContainEqual(expect.objectContaining({ type: 'checkpoint' }));
    await expect(remote.start().then(() => remote.step(1))).rejects.toThrow(/Pause the run before stepping/);
    await remote.pause();
    expect((await remote.step(2)).step).toBeGreaterThan(step);
  }, 120_000);
});
