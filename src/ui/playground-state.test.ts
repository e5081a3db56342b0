/**
 * The playground's pure parts: form validation into a RunConfig, the worker-event reducer of the store, and
 * the snapshot → picture conversion.
 */
import { describe, expect, it } from 'vitest';
import { IMAGENET_NORMALIZATION } from '../data/augment';
import type { MetricsSample, Snapshot, WorkerEvent } from '../worker/protocol';
import { snapshotPictures, stretchPerImage } from './pictures';
import {
  checkForm,
  DEFAULT_FORM,
  describePreset,
  formForPreset,
  needsNewRun,
  PLAYGROUND_PRESETS,
  visibleCells,
} from './run-config';
import { appendMetrics, INITIAL_RUN, MAX_METRIC_SAMPLES, mergeImages, reduceWorkerEvent } from './store';

const sample = (step: number, loss = 1): MetricsSample => ({
  step,
  loss,
  lr: 1e-3,
  weightDecay: 0.04,
  gradNorm: 1,
  imagesPerSecond: 10,
  stepMs: 100,
});

describe('settings form', () => {
  it('the default form is a valid run on built-in Fashion-MNIST with the smallest preset', () => {
    const check = checkForm(DEFAULT_FORM);
    expect(check.ok).toBe(true);
    if (!check.ok) return;
    expect(DEFAULT_FORM.preset).toBe('tiny');
    expect(PLAYGROUND_PRESETS[0]).toBe('tiny');
    expect(check.model.inputSize).toBe(32);
    expect(check.config).toEqual({
      preset: DEFAULT_FORM.preset,
      model: { maskRatio: 0.6 },
      data: { kind: 'fashion-mnist' },
      batchSize: 4,
      steps: 300,
      seed: 0,
    });
  });

  it('picking a preset takes its training defaults and keeps the data, seed and mask ratio', () => {
    const form = formForPreset('resnet-s16-64', {
      ...DEFAULT_FORM,
      dataset: 'photos',
      seed: 7,
      lr: '1e-3',
      maskRatio: 0.75,
    });
    expect(form).toEqual({
      preset: 'resnet-s16-64',
      dataset: 'photos',
      seed: 7,
      maskRatio: 0.75,
      batchSize: 32,
      steps: 2000,
      lr: '',
      encoder: 'sparse',
      decoderInputs: 'all',
      maskToken: 'learned',
      lossTarget: 'patch-norm',
      lossOn: 'masked',
      decoderWidth: '',
      widths: '',
      depths: '',
      optimizer: '',
      weightDecay: '',
      dropPath: '',
    });
    expect(describePreset('tiny')).toBe('tiny: 32 px, ResNet (basic), stride 8, 4×4 mask grid');
    expect(describePreset('convnext-s-224')).toBe(
      'convnext-s-224: 224 px, ConvNeXt, stride 32, 7×7 mask grid (official, heavy)',
    );
    // The 224-px official presets come last: a browser trains the small ones.
    expect(PLAYGROUND_PRESETS.slice(-2).sort()).toEqual(['convnext-s-224', 'resnet50-224']);
  });

  it('ablations other than SparK’s, typed sizes, optimiser and weight decay reach the RunConfig; bad ones are sentences', () => {
    const check = checkForm({
      ...DEFAULT_FORM,
      encoder: 'dense-zero',
      maskToken: 'zeros',
      decoderWidth: '64',
      widths: '8,16,16',
      optimizer: 'adamw',
      weightDecay: '0.1',
    });
    expect(check.ok).toBe(true);
    if (!check.ok) return;
    expect(check.config.model).toMatchObject({
      maskRatio: 0.6,
      encoder: 'dense-zero',
      maskToken: 'zeros',
      decoderWidth: 64,
    });
    expect(check.config.model).not.toHaveProperty('lossTarget');
    expect(check.model.backbone).toMatchObject({ widths: [8, 16, 16], depths: [1, 1, 1] });
    expect(check.config).toMatchObject({ optimizer: 'adamw', weightDecay: 0.1 });
    expect(checkForm({ ...DEFAULT_FORM, depths: '1,1' })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/stage lists must have the same length: 3 widths, 2 depths/),
    });
    expect(checkForm({ ...DEFAULT_FORM, decoderWidth: '0' })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/decoder width must be a positive whole number, got "0"/),
    });
    expect(checkForm({ ...DEFAULT_FORM, depths: '1,x' })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/backbone depths must be whole numbers/),
    });
    expect(checkForm({ ...DEFAULT_FORM, weightDecay: '-1' })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/weight decay must be a number of at least 0/),
    });
    expect(needsNewRun(DEFAULT_FORM, { ...DEFAULT_FORM, lossOn: 'all' })).toBe(true);
  });

  it('a typed drop-path rate reaches the model (blank = the preset, off in the small ones); a bad one is a sentence', () => {
    const check = checkForm({ ...DEFAULT_FORM, dropPath: ' 0.1 ' });
    expect(check).toMatchObject({
      ok: true,
      model: { dropPathRate: 0.1 },
      config: { model: { dropPathRate: 0.1 } },
    });
    const blank = checkForm(DEFAULT_FORM);
    expect(blank.ok && (blank.model.dropPathRate ?? 0)).toBe(0);
    expect(checkForm({ ...DEFAULT_FORM, dropPath: '1' })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/drop-path rate must be a number of at least 0 and below 1/),
    });
    expect(needsNewRun(DEFAULT_FORM, { ...DEFAULT_FORM, dropPath: '0.2' })).toBe(true);
  });

  it('a typed learning rate is passed on; blank leaves the trainer default', () => {
    const check = checkForm({ ...DEFAULT_FORM, lr: ' 2e-3 ' });
    expect(check.ok && check.config.lr).toBe(2e-3);
  });

  it.each([
    [{ batchSize: 1 }, /batch size must be a whole number of at least 2, got 1: BatchNorm/],
    [{ batchSize: Number.NaN }, /batch size must be a whole number of at least 2, got NaN/],
    [{ steps: 0 }, /number of training steps must be a positive whole number, got 0/],
    [{ seed: -1 }, /seed must be a whole number of at least 0, got -1/],
    [{ lr: 'fast' }, /learning rate must be a positive number such as 1e-3, got "fast"/],
    [{ lr: '-1e-3' }, /learning rate must be a positive number/],
    [{ lr: '3' }, /diverge at once; use at most 1/],
    [{ maskRatio: 1 }, /mask ratio must be in \[0, 1\), got 1/],
    // A 4×4 grid keeps round(16 × 0.02) = 0 cells at 0.98: the engine's sentence names the grid.
    [{ maskRatio: 0.98 }, /mask grid is 4×4: A mask ratio of 0.98 on a 4×4 grid keeps no cell visible/],
  ])('%o is refused with a sentence', (patch, message) => {
    const check = checkForm({ ...DEFAULT_FORM, ...patch });
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.message).toMatch(message);
  });

  it('counts visible cells like the official len_keep (round half to even)', () => {
    // resnet-s8-32: 4×4 grid. 16 × 0.4 = 6.4 → 6; 16 × 0.25 = 4; 16 × 0.5 = 8.
    expect(visibleCells('resnet-s8-32', 0.6)).toBe(6);
    expect(visibleCells('resnet-s8-32', 0.75)).toBe(4);
    expect(visibleCells('resnet-s8-32', 0.5)).toBe(8);
    expect(visibleCells('resnet-s8-32', 0.99)).toBeUndefined();
  });

  it('only settings other than the mask ratio need a new run', () => {
    expect(needsNewRun(undefined, DEFAULT_FORM)).toBe(true);
    expect(needsNewRun(DEFAULT_FORM, { ...DEFAULT_FORM, maskRatio: 0.75 })).toBe(false);
    expect(needsNewRun(DEFAULT_FORM, { ...DEFAULT_FORM, lr: '' })).toBe(false);
    for (const patch of [
      { batchSize: 6 },
      { steps: 10 },
      { seed: 3 },
      { lr: '1e-3' },
      { dataset: 'photos' as const },
    ])
      expect(needsNewRun(DEFAULT_FORM, { ...DEFAULT_FORM, ...patch })).toBe(true);
  });
});

describe('worker events in the store', () => {
  const base = () => ({
    run: { ...INITIAL_RUN, runId: 'run-a', state: 'running' as const, step: 5 },
    metrics: [sample(5)],
    images: { skipped: [], pending: false },
    notices: [],
  });

  it('drops events of another run', () => {
    const event: WorkerEvent = { type: 'metrics', runId: 'run-old', metrics: sample(9) };
    expect(reduceWorkerEvent(base(), event)).toBeNull();
  });

  it('appends metrics and advances the step', () => {
    const change = reduceWorkerEvent(base(), { type: 'metrics', runId: 'run-a', metrics: sample(10, 0.5) });
    expect(change?.metrics?.map((m) => m.step)).toEqual([5, 10]);
    expect(change?.run?.step).toBe(10);
  });

  it('a NaN pause becomes a warning with the worker sentence; a user pause does not', () => {
    const message = 'Step 12 gave a non-finite loss; the run was paused and restored to step 10.';
    const change = reduceWorkerEvent(base(), {
      type: 'paused',
      runId: 'run-a',
      step: 10,
      reason: 'non-finite',
      message,
    });
    expect(change?.run?.state).toBe('paused');
    expect(change?.notices?.map((n) => [n.tone, n.kind, n.text])).toEqual([
      ['warning', 'non-finite', message],
    ]);
    const user = reduceWorkerEvent(base(), {
      type: 'paused',
      runId: 'run-a',
      step: 6,
      reason: 'user',
      message: '',
    });
    expect(user?.notices).toBeUndefined();
    expect(user?.run?.state).toBe('paused');
  });

  it('a finished run, a device loss and a worker error are told apart', () => {
    const finished = reduceWorkerEvent(base(), {
      type: 'paused',
      runId: 'run-a',
      step: 300,
      reason: 'finished',
      message: 'Finished 300 steps.',
    });
    expect(finished?.run?.state).toBe('finished');
    expect(finished?.notices?.[0].tone).toBe('info');
    const lost = reduceWorkerEvent(base(), {
      type: 'device-lost',
      runId: 'run-a',
      message: 'The GPU was lost.',
      recovered: false,
    });
    expect(lost?.notices?.[0]).toMatchObject({
      tone: 'error',
      kind: 'device-lost',
      text: 'The GPU was lost.',
    });
    const recovered = reduceWorkerEvent(base(), {
      type: 'device-lost',
      runId: 'run-a',
      message: 'The GPU was lost; resumed from step 100.',
      recovered: true,
      resumedFromStep: 100,
    });
    expect(recovered?.notices?.[0].tone).toBe('warning');
    const error = reduceWorkerEvent(base(), { type: 'error', runId: 'run-a', message: 'Out of memory.' });
    expect(error?.run?.state).toBe('failed');
    expect(error?.notices?.[0]).toMatchObject({ tone: 'error', text: 'Out of memory.' });
  });

  it('a rollback moves the step back and replayed steps replace the old readings', () => {
    const state = base();
    state.metrics = [sample(10), sample(20), sample(30)];
    const rolled = reduceWorkerEvent(state, {
      type: 'rolled-back',
      runId: 'run-a',
      fromStep: 31,
      toStep: 20,
      message: 'Rolled back.',
    });
    expect(rolled?.run?.step).toBe(20);
    expect(appendMetrics(state.metrics, sample(30, 0.2)).map((m) => [m.step, m.loss])).toEqual([
      [10, 1],
      [20, 1],
      [30, 0.2],
    ]);
  });

  it('skipped files accumulate across additions; the images event is left to the addImages result', () => {
    const result = {
      added: 1,
      skipped: [{ name: 'a.txt', reason: 'it is not a PNG or JPEG image' }],
      total: 1,
      cacheBytes: 10,
      budgetBytes: 100,
    };
    expect(reduceWorkerEvent(base(), { type: 'images', runId: 'run-a', result })).toBeNull();
    const once = mergeImages({ skipped: [], pending: true }, result);
    const twice = mergeImages(once, {
      ...result,
      skipped: [{ name: 'b.png', reason: 'it is empty (0 bytes).' }],
    });
    expect(once.pending).toBe(false);
    expect(twice.skipped.map((f) => f.name)).toEqual(['a.txt', 'b.png']);
  });

  it('a long run keeps the newest half of the samples in full and thins the older ones', () => {
    let samples: MetricsSample[] = [];
    for (let s = 1; s <= MAX_METRIC_SAMPLES + 1; s++) samples = appendMetrics(samples, sample(s));
    expect(samples.length).toBeLessThanOrEqual(MAX_METRIC_SAMPLES);
    expect(samples[samples.length - 1].step).toBe(MAX_METRIC_SAMPLES + 1);
    expect(samples[0].step).toBe(1);
    const steps = samples.map((s) => s.step);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
  });
});

describe('snapshot pictures', () => {
  it('stretches each image of the prediction to black..white over all its channels', () => {
    const size = 1;
    // two 1×1 images: (−1, 0, 1) and a constant (5, 5, 5)
    const prediction = new Float32Array([-1, 0, 1, 5, 5, 5]);
    const out = stretchPerImage(prediction, 2, size, IMAGENET_NORMALIZATION);
    const shown = Array.from(out, (v, i) => {
      const c = i % 3;
      return (v * IMAGENET_NORMALIZATION.std[c] + IMAGENET_NORMALIZATION.mean[c]) * 255;
    });
    expect(shown[0]).toBeCloseTo(0, 4);
    expect(shown[1]).toBeCloseTo(127.5, 4);
    expect(shown[2]).toBeCloseTo(255, 4);
    for (const v of shown.slice(3)) expect(v).toBeCloseTo(127.5, 4);
    expect(() => stretchPerImage(prediction, 3, size, IMAGENET_NORMALIZATION)).toThrow(/not 3×3×1×1/);
  });

  it('paints masked cells in the masked row only', () => {
    const size = 2;
    const images = 1;
    // mid-grey in normalised units: value whose denormalisation is 128 in every channel
    const grey = Float32Array.from({ length: 12 }, (_, i) => {
      const c = Math.floor(i / 4);
      return (128 / 255 - IMAGENET_NORMALIZATION.mean[c]) / IMAGENET_NORMALIZATION.std[c];
    });
    const snapshot = {
      runId: 'r',
      step: 1,
      images,
      size,
      normalization: IMAGENET_NORMALIZATION,
      input: grey,
      maskedInput: grey,
      composite: grey,
      prediction: grey,
      mask: { stride: 1, height: 2, width: 2, data: new Uint8Array([1, 0, 0, 1]) },
      activeMaps: [],
      histograms: undefined as unknown as Snapshot['histograms'],
    } satisfies Snapshot;
    const pictures = snapshotPictures(snapshot, [10, 20, 30]);
    // gap 1: a 2×2 tile inside a 4×4 picture; tile pixel (x, y) is at picture (x + 1, y + 1)
    const pixel = (p: { data: Uint8ClampedArray; width: number }, x: number, y: number) =>
      Array.from(p.data.subarray(((y + 1) * p.width + x + 1) * 4, ((y + 1) * p.width + x + 1) * 4 + 3));
    expect(pictures.masked.width).toBe(4);
    expect(pixel(pictures.masked, 0, 0)).toEqual([128, 128, 128]);
    expect(pixel(pictures.masked, 1, 0)).toEqual([10, 20, 30]);
    expect(pixel(pictures.masked, 0, 1)).toEqual([10, 20, 30]);
    expect(pixel(pictures.input, 1, 0)).toEqual([128, 128, 128]);
    expect(pixel(pictures.composite, 1, 0)).toEqual([128, 128, 128]);
  });
});
