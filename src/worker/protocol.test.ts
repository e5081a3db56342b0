import * as Comlink from 'comlink';
import { afterEach, describe, expect, it } from 'vitest';
import { IMAGENET_NORMALIZATION } from '../data/augment';
import { DEFAULT_HISTOGRAM } from '../data/histogram';
import {
  type AddImagesResult,
  type CheckpointInfo,
  connectTrainer,
  EventHub,
  exposeTrainer,
  newRunId,
  type RunConfig,
  type Snapshot,
  subscribeEvents,
  type TrainerWorkerApi,
  transferables,
  type WorkerEvent,
  withTransfer,
} from './protocol';

/**
 * A stand-in for the real trainer: just enough behaviour to check what crosses the port — calls, a proxied
 * listener, transferred (detached) buffers. The real trainer implements the same interface.
 */
class FakeTrainer implements TrainerWorkerApi {
  readonly hub = new EventHub();
  runId = 'run-a';
  stepCount = 0;
  lastSnapshot?: Snapshot;
  imported?: Uint8Array;
  maskRatio = 0.6;

  async configure(config: RunConfig) {
    return {
      runId: this.runId,
      parameterCount: config.batchSize * 1000,
      model: {} as never,
      warnings: [],
    };
  }
  async start() {
    this.hub.emit({ type: 'state', runId: this.runId, state: 'running', step: this.stepCount });
  }
  async pause() {
    this.hub.emit({
      type: 'paused',
      runId: this.runId,
      step: this.stepCount,
      reason: 'user',
      message: 'Paused.',
    });
  }
  async step(n: number) {
    this.stepCount += n;
    const metrics = {
      step: this.stepCount,
      loss: 1 / this.stepCount,
      lr: 1e-3,
      weightDecay: 0.04,
      gradNorm: 1,
      imagesPerSecond: 10,
      stepMs: 5,
    };
    this.hub.emit({ type: 'metrics', runId: this.runId, metrics });
    return { step: this.stepCount, metrics };
  }
  async reset() {
    this.runId = 'run-b';
    this.stepCount = 0;
    return this.runId;
  }
  async setMaskRatio(ratio: number) {
    this.maskRatio = ratio;
  }
  async snapshot(images = 2): Promise<Snapshot> {
    const size = 4;
    const image = () => Float32Array.from({ length: images * 3 * size * size }, (_, i) => i);
    const mask = { stride: 2, height: 2, width: 2, data: new Uint8Array(images * 4).fill(1) };
    const bins = () => new Float64Array(DEFAULT_HISTOGRAM.bins);
    this.lastSnapshot = {
      runId: this.runId,
      step: this.stepCount,
      images,
      size,
      normalization: IMAGENET_NORMALIZATION,
      input: image(),
      mask,
      maskedInput: image(),
      prediction: image(),
      composite: image(),
      activeMaps: [mask, { stride: 4, height: 1, width: 1, data: new Uint8Array(images).fill(1) }],
      histograms: {
        edges: new Float64Array(DEFAULT_HISTOGRAM.bins + 1),
        original: bins(),
        zeroMasked: bins(),
        visibleOnly: bins(),
        klZeroMasked: 0.5,
        klVisibleOnly: 0.01,
        visibleFraction: 0.4,
      },
    };
    return withTransfer(this.lastSnapshot);
  }
  async subscribe(listener: (event: WorkerEvent) => void) {
    return this.hub.subscribe(listener);
  }
  async unsubscribe(id: number) {
    this.hub.unsubscribe(id);
  }
  async exportWeights() {
    return withTransfer(new Uint8Array([1, 2, 3]));
  }
  async importWeights(bytes: Uint8Array) {
    this.imported = bytes;
    return { loaded: bytes.length, unexpected: [], missing: [] };
  }
  async exportEncoder() {
    return withTransfer(new Uint8Array([4]));
  }
  async exportPth() {
    return withTransfer(new Uint8Array([5]));
  }
  private checkpoint(name: string): CheckpointInfo {
    return { name, runId: this.runId, step: this.stepCount, bytes: 3, savedAt: '2026-01-01T00:00:00Z' };
  }
  async saveCheckpoint(name = 'auto') {
    return this.checkpoint(name);
  }
  async restoreCheckpoint(name: string) {
    return this.checkpoint(name);
  }
  async listCheckpoints() {
    return [this.checkpoint('auto')];
  }
  async deleteCheckpoint() {}
  async addImages(files: { name: string; bytes: Uint8Array }[]): Promise<AddImagesResult> {
    return {
      added: files.length - 1,
      skipped: [{ name: files[0].name, reason: 'the file is empty (0 bytes).' }],
      total: files.length - 1,
      cacheBytes: 0,
      budgetBytes: 1,
    };
  }
  async viewCheckpoint(): Promise<never> {
    throw new Error('These tests do not view checkpoints.');
  }
}

const channels: MessageChannel[] = [];
function connect() {
  const channel = new MessageChannel();
  channels.push(channel);
  const fake = new FakeTrainer();
  exposeTrainer(fake, channel.port1 as unknown as Comlink.Endpoint);
  const remote = connectTrainer(channel.port2 as unknown as Comlink.Endpoint);
  return { fake, remote };
}

afterEach(() => {
  for (const c of channels.splice(0)) {
    c.port1.close();
    c.port2.close();
  }
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!condition()) throw new Error('condition not reached within 1 s');
}

describe('worker protocol over a MessageChannel', () => {
  it('calls methods and delivers events to a proxied listener, each with the run id', async () => {
    const { fake, remote } = connect();
    const events: WorkerEvent[] = [];
    const id = await subscribeEvents(remote, (event) => events.push(event));
    const config: RunConfig = { data: { kind: 'fashion-mnist' }, batchSize: 8, steps: 10, seed: 0 };
    expect((await remote.configure(config)).parameterCount).toBe(8000);
    await remote.start();
    expect((await remote.step(3)).step).toBe(3);
    await remote.setMaskRatio(0.75);
    expect(fake.maskRatio).toBe(0.75);
    await until(() => events.length === 2);
    expect(events.map((e) => e.type)).toEqual(['state', 'metrics']);
    expect(events.every((e) => e.runId === 'run-a')).toBe(true);
    expect(await remote.reset()).toBe('run-b');
    await remote.unsubscribe(id);
    await remote.pause();
    await new Promise((r) => setTimeout(r, 20));
    expect(events).toHaveLength(2);
    expect(fake.hub.size).toBe(0);
  });

  it('transfers snapshot arrays: the worker side is detached, the UI side holds the data', async () => {
    const { fake, remote } = connect();
    const snapshot = await remote.snapshot(2);
    const sent = fake.lastSnapshot!;
    for (const array of [sent.input, sent.maskedInput, sent.prediction, sent.composite, sent.mask.data]) {
      expect(array.byteLength).toBe(0);
    }
    expect(sent.histograms.original.byteLength).toBe(0);
    expect(sent.activeMaps[1].data.byteLength).toBe(0);
    expect(snapshot.input.length).toBe(2 * 3 * 16);
    expect(snapshot.input[5]).toBe(5);
    expect(snapshot.activeMaps.map((m) => m.stride)).toEqual([2, 4]);
    expect(snapshot.histograms.klZeroMasked).toBe(0.5);
  });

  it('transfers weights in both directions', async () => {
    const { fake, remote } = connect();
    expect(Array.from(await remote.exportWeights())).toEqual([1, 2, 3]);
    const bytes = new Uint8Array([9, 8, 7, 6]);
    const result = await remote.importWeights(Comlink.transfer(bytes, [bytes.buffer]));
    expect(result.loaded).toBe(4);
    expect(bytes.byteLength).toBe(0);
    expect(Array.from(fake.imported!)).toEqual([9, 8, 7, 6]);
    const added = await remote.addImages([
      { name: 'empty.png', bytes: new Uint8Array(0) },
      { name: 'ok.png', bytes: new Uint8Array(1) },
    ]);
    expect(added.skipped).toEqual([{ name: 'empty.png', reason: 'the file is empty (0 bytes).' }]);
  });
});

describe('transferables', () => {
  it('collects whole-buffer views once, skips partial views, walks arrays and objects', () => {
    const a = new Float32Array(4);
    const shared = new Uint8Array(8);
    const partial = shared.subarray(2, 4);
    const raw = new ArrayBuffer(3);
    const found = transferables({
      a,
      again: a,
      list: [{ deep: new Uint8Array(a.buffer) }, partial],
      raw,
      n: 1,
      s: 'x',
    });
    expect(found).toEqual([a.buffer, raw]);
    expect(transferables(null)).toEqual([]);
  });
});

describe('EventHub', () => {
  it('drops a listener that throws and keeps the others', () => {
    const hub = new EventHub();
    const got: string[] = [];
    hub.subscribe(() => {
      throw new Error('page closed');
    });
    hub.subscribe((e) => got.push(e.type));
    const event: WorkerEvent = { type: 'error', runId: 'r', message: 'x' };
    hub.emit(event);
    hub.emit(event);
    expect(got).toEqual(['error', 'error']);
    expect(hub.size).toBe(1);
  });

  it('drops a listener whose promise rejects (a proxy to a closed page)', async () => {
    const hub = new EventHub();
    hub.subscribe((() => Promise.reject(new Error('closed'))) as never);
    hub.emit({ type: 'error', runId: 'r', message: 'x' });
    await new Promise((r) => setTimeout(r, 0));
    expect(hub.size).toBe(0);
  });
});

describe('newRunId', () => {
  it('encodes time and randomness in base 36', () => {
    expect(newRunId(36 ** 3, 0)).toBe('run-1000-000000');
    expect(newRunId(0, 0.5)).toMatch(/^run-0-[0-9a-z]{6}$/);
  });
});
