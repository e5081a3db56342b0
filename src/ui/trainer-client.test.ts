/**
 * The UI's trainer client against a scripted TrainerWorkerApi served over a real MessageChannel (comlink, as
 * in the browser): which protocol calls each user action makes, how worker failures become notices, and
 * which events reach the store. The real worker behind the same protocol is exercised by the e2e run.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CheckpointInfo,
  EventHub,
  exposeTrainer,
  type ImportResult,
  type RunConfig,
  type TrainerWorkerApi,
} from '../worker/protocol';
import { DEFAULT_FORM } from './run-config';
import { INITIAL_RUN, useAppStore } from './store';
import { MASK_RATIO_SETTLE_MS, PlaygroundClient } from './trainer-client';

class ScriptedTrainer implements TrainerWorkerApi {
  readonly hub = new EventHub();
  readonly calls: string[] = [];
  configs: RunConfig[] = [];
  maskRatios: number[] = [];
  runs = 0;
  runId = '';
  importError?: string;

  async configure(config: RunConfig) {
    this.calls.push('configure');
    this.configs.push(config);
    this.runId = `run-${++this.runs}`;
    return { runId: this.runId, parameterCount: 1234, model: {} as never, warnings: [] };
  }
  async start() {
    this.calls.push('start');
  }
  async pause() {
    this.calls.push('pause');
  }
  async step(n: number) {
    this.calls.push(`step ${n}`);
    return { step: n };
  }
  async reset() {
    this.calls.push('reset');
    this.runId = `run-${++this.runs}`;
    return this.runId;
  }
  async setMaskRatio(ratio: number) {
    this.calls.push('setMaskRatio');
    this.maskRatios.push(ratio);
  }
  async snapshot(): Promise<never> {
    this.calls.push('snapshot');
    throw new Error('No snapshot in this test.');
  }
  async subscribe(listener: Parameters<TrainerWorkerApi['subscribe']>[0]) {
    return this.hub.subscribe(listener);
  }
  async unsubscribe(id: number) {
    this.hub.unsubscribe(id);
  }
  async exportWeights() {
    return new Uint8Array(4);
  }
  async exportEncoder() {
    return new Uint8Array(4);
  }
  async exportPth() {
    return new Uint8Array(4);
  }
  async importWeights(): Promise<ImportResult> {
    this.calls.push('importWeights');
    if (this.importError) throw new Error(this.importError);
    return { loaded: 7, unexpected: ['extra'], missing: [] };
  }
  async saveCheckpoint(): Promise<CheckpointInfo> {
    throw new Error('not used');
  }
  async restoreCheckpoint(name: string): Promise<CheckpointInfo> {
    this.calls.push(`restore ${name}`);
    this.runId = 'run-saved';
    return { name, runId: 'run-saved', step: 42, bytes: 100, savedAt: '2026-01-01T00:00:00Z' };
  }
  async listCheckpoints(): Promise<CheckpointInfo[]> {
    return [];
  }
  async deleteCheckpoint() {}
  async addImages() {
    return { added: 0, skipped: [], total: 0, cacheBytes: 0, budgetBytes: 1 };
  }
  async viewCheckpoint(): Promise<never> {
    throw new Error('These tests do not view checkpoints.');
  }
}

let trainer: ScriptedTrainer;
let client: PlaygroundClient;
let channel: MessageChannel;

const settle = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms));
const noticeTexts = () => useAppStore.getState().notices.map((n) => `${n.kind}: ${n.text}`);

beforeEach(() => {
  useAppStore.setState({
    gpu: { state: 'probing' },
    worker: 'idle',
    form: DEFAULT_FORM,
    run: INITIAL_RUN,
    metrics: [],
    snapshot: undefined,
    images: { skipped: [], pending: false },
    notices: [],
    savedRuns: [],
  });
  trainer = new ScriptedTrainer();
  channel = new MessageChannel();
  exposeTrainer(trainer, channel.port2);
  client = new PlaygroundClient(async () => channel.port1);
});

afterEach(() => {
  channel.port1.close();
  channel.port2.close();
});

describe('trainer client', () => {
  it('Start configures a run from the form, then starts it', async () => {
    expect(await client.start()).toBe(true);
    expect(trainer.calls).toEqual(['configure', 'start']);
    expect(trainer.configs[0]).toMatchObject({
      preset: 'tiny',
      data: { kind: 'fashion-mnist' },
      batchSize: DEFAULT_FORM.batchSize,
      model: { maskRatio: DEFAULT_FORM.maskRatio },
      metricsEvery: 10,
    });
    const { run, worker } = useAppStore.getState();
    expect(worker).toBe('ready');
    expect(run).toMatchObject({ runId: 'run-1', state: 'running', parameterCount: 1234, pending: null });
  });

  it('continues the same run while the settings are unchanged and starts a new one when they change', async () => {
    await client.start();
    await client.pause();
    await client.start();
    expect(trainer.calls.filter((c) => c === 'configure')).toHaveLength(1);
    useAppStore.getState().setForm({ batchSize: 6 });
    await client.step(1);
    expect(trainer.calls.filter((c) => c === 'configure')).toHaveLength(2);
    expect(trainer.configs[1].batchSize).toBe(6);
    expect(useAppStore.getState().run.runId).toBe('run-2');
  });

  it('Start after a finished run begins a new run', async () => {
    await client.start();
    trainer.hub.emit({ type: 'state', runId: 'run-1', state: 'finished', step: 300 });
    await settle();
    expect(useAppStore.getState().run.state).toBe('finished');
    await client.start();
    expect(trainer.calls).toEqual(['configure', 'start', 'configure', 'start']);
    expect(useAppStore.getState().run).toMatchObject({ runId: 'run-2', state: 'running' });
  });

  it('reads metrics back every step on a software adapter', async () => {
    useAppStore.setState({
      gpu: { state: 'ready', label: 'soft', summary: { isSoftware: true } as never },
    });
    await client.step(1);
    expect(trainer.configs[0].metricsEvery).toBe(1);
  });

  it('refuses invalid settings with the validator sentence and calls nothing', async () => {
    useAppStore.getState().setForm({ batchSize: 1 });
    expect(await client.start()).toBe(false);
    expect(trainer.calls).toEqual([]);
    expect(noticeTexts()).toEqual([
      expect.stringMatching(/^config: The batch size must be a whole number of at least 2, got 1/),
    ]);
  });

  it('drops events of a run that was reset and keeps those of the new one', async () => {
    await client.start();
    await client.reset();
    expect(useAppStore.getState().run).toMatchObject({ runId: 'run-2', state: 'idle', step: 0 });
    const metrics = { loss: 0.5, lr: 1e-3, weightDecay: 0.04, gradNorm: 1, imagesPerSecond: 1, stepMs: 1 };
    trainer.hub.emit({ type: 'metrics', runId: 'run-1', metrics: { ...metrics, step: 50 } });
    trainer.hub.emit({ type: 'metrics', runId: 'run-2', metrics: { ...metrics, step: 3 } });
    trainer.hub.emit({
      type: 'paused',
      runId: 'run-2',
      step: 3,
      reason: 'non-finite',
      message: 'Step 4 gave a non-finite loss; restored step 3.',
    });
    await settle();
    const state = useAppStore.getState();
    expect(state.metrics.map((m) => m.step)).toEqual([3]);
    expect(state.run.state).toBe('paused');
    expect(noticeTexts()).toContain('non-finite: Step 4 gave a non-finite loss; restored step 3.');
  });

  it('a refused weights file becomes a sentence naming the file; an accepted one reports what loaded', async () => {
    trainer.importError = 'the imported file is not a safetensors file: its header length is 1 TB.';
    const file = new File(['junk'], 'broken.safetensors');
    expect(await client.importWeights(file)).toBe(false);
    // There was no run: one was configured for the import, so nothing the user had is "unchanged".
    // Only the import's notices (the lab's watch-set evaluation is not scripted here).
    expect(noticeTexts().filter((t) => t.startsWith('import'))).toEqual([
      'import-refused: broken.safetensors was not loaded: the imported file is not a safetensors file: its header length is 1 TB. The new run keeps the weights it was initialised with.',
    ]);
    trainer.importError = undefined;
    expect(await client.importWeights(new File(['ok'], 'good.safetensors'))).toBe(true);
    expect(noticeTexts()).toContain(
      'imported: Loaded 7 tensors from good.safetensors; 1 unknown names ignored.',
    );
    // The run was configured once, for the first import.
    expect(trainer.calls.filter((c) => c === 'configure')).toHaveLength(1);
  });

  it('imports into the active run after a settings edit instead of replacing it, and says "unchanged" only then (item 5)', async () => {
    await client.start();
    useAppStore.getState().setForm({ batchSize: DEFAULT_FORM.batchSize * 2 });
    trainer.importError = 'the imported file has no tensor named x.';
    expect(await client.importWeights(new File(['junk'], 'other.safetensors'))).toBe(false);
    // Only the import's notices (the lab's watch-set evaluation is not scripted here).
    expect(noticeTexts().filter((t) => t.startsWith('import'))).toEqual([
      'import-refused: other.safetensors was not loaded: the imported file has no tensor named x. The current weights are unchanged.',
    ]);
    trainer.importError = undefined;
    expect(await client.importWeights(new File(['ok'], 'good.safetensors'))).toBe(true);
    expect(trainer.calls.filter((c) => c === 'configure')).toHaveLength(1);
    expect(useAppStore.getState().run.runId).toBe('run-1');
  });

  it('asks once for persistent storage and shows the usage estimate (item 3)', async () => {
    let asked = 0;
    const storage = {
      persisted: async () => false,
      persist: async () => {
        asked++;
        return true;
      },
      estimate: async () => ({ usage: 3 * 2 ** 20, quota: 2 ** 30 }),
    } as unknown as StorageManager;
    await client.refreshStorage(storage);
    await client.refreshStorage(storage);
    expect(asked).toBe(1);
    expect(useAppStore.getState().storage).toEqual({ usage: 3 * 2 ** 20, quota: 2 ** 30, persisted: false });
  });

  it('sends the mask ratio once the slider rests', async () => {
    await client.start();
    for (const ratio of [0.65, 0.7, 0.75]) client.setMaskRatio(ratio);
    expect(useAppStore.getState().form.maskRatio).toBe(0.75);
    await settle(MASK_RATIO_SETTLE_MS + 100);
    expect(trainer.maskRatios).toEqual([0.75]);
  });

  it('resuming a saved run shows it paused at its step and keeps the slider ratio', async () => {
    const info = {
      name: 'run-saved',
      runId: 'run-saved',
      step: 42,
      bytes: 100,
      savedAt: '2026-01-01T00:00:00Z',
    };
    useAppStore.setState({ savedRuns: [info] });
    expect(await client.resume(info)).toBe(true);
    const state = useAppStore.getState();
    expect(state.run).toMatchObject({ runId: 'run-saved', state: 'paused', step: 42 });
    expect(state.savedRuns).toEqual([]);
    expect(trainer.calls.slice(0, 2)).toEqual(['restore run-saved', 'setMaskRatio']);
    expect(trainer.maskRatios).toEqual([DEFAULT_FORM.maskRatio]);
    // Settings are remembered per run in the browser's storage; without it the current form stays.
    expect(noticeTexts()[0]).toMatch(/^restored: Resumed the run saved at step 42\./);
  });
});
