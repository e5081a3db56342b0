import { describe, expect, it } from 'vitest';
import { userPhotoDataset } from '../data/datasets';
import { decodeImageNode } from '../data/decode-node';
import { ImageCollection } from '../data/image-set';
import { pngBytes } from '../data/test-images';
import { compareClose } from '../reference/allclose';
import { DEFAULT_FORM } from '../ui/run-config';
import { FORM_SCHEMA_VERSION, recallStoredForm, storeForm } from '../ui/stored-form';
import type { ParityFixture } from './fixtures';
import { compareWithFixture, type ParityResults } from './parity';
import { runSettingsMeta, storedRunConfig, validateRunConfig } from './run-settings';
import { formatMismatch } from './state';

const GOOD_RUN = { preset: 'tiny', data: { kind: 'fashion-mnist' }, batchSize: 4, steps: 10, seed: 0 };

describe('run settings from the page, links and stored checkpoints', () => {
  it('accepts good settings and refuses prototype names, NaN and wrong types with a sentence', () => {
    expect(validateRunConfig(GOOD_RUN)).toBe(GOOD_RUN);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ preset: 'constructor' }, /no preset named "constructor"/],
      [{ preset: '__proto__' }, /no preset named "__proto__"/],
      [{ metricsEvery: Number.NaN }, /metrics interval must be a whole number of at least 1, got null/],
      [{ lr: Number.NaN }, /learning rate must be a finite number above 0/],
      [{ lr: -1 }, /learning rate/],
      [{ lr: Number.POSITIVE_INFINITY }, /learning rate/],
      [{ batchSize: 2.5 }, /batch size/],
      [{ steps: '10' }, /number of steps/],
      [{ seed: -1 }, /seed/],
      [{ optimizer: 'sgd' }, /optimiser must be lamb or adamw/],
      [{ data: { kind: 'toString' } }, /data source/],
      [{ data: { kind: 'user', scale: [0.9, 0.1] } }, /crop scale/],
      [{ normalization: { mean: [0, 0, 0], std: [1, 0, 1] } }, /normalisation/],
      [{ checkpointEvery: -5 }, /checkpoint interval/],
      [{ imageBudgetBytes: 2 ** 40 }, /image memory budget may be at most/],
      [{ model: 'big' }, /model settings are not an object/],
    ];
    for (const [change, message] of cases) {
      expect(() => validateRunConfig({ ...GOOD_RUN, ...change }), JSON.stringify(change)).toThrow(message);
    }
    expect(() => validateRunConfig(null)).toThrow(/not an object/);
  });

  it('reads the settings stored with a checkpoint by version, with a sentence for older and newer ones', () => {
    const meta = runSettingsMeta(GOOD_RUN as never) as unknown as Record<string, unknown>;
    expect(storedRunConfig(meta, 'run-a')).toEqual(GOOD_RUN);
    // Saved before versions existed: read as version 1 when valid.
    expect(storedRunConfig({ runConfig: GOOD_RUN }, 'run-a')).toEqual(GOOD_RUN);
    expect(storedRunConfig({}, 'run-a')).toBeUndefined();
    expect(() => storedRunConfig({ ...meta, settingsVersion: 2 }, 'run-a')).toThrow(
      'The checkpoint "run-a" was saved by a newer SparkLab (settings version 2); update SparkLab to restore it.',
    );
    expect(() =>
      storedRunConfig({ runConfig: { ...GOOD_RUN, batch: 4, batchSize: undefined } }, 'run-b'),
    ).toThrow(
      /^The checkpoint "run-b" was saved by an older SparkLab and its run settings cannot be read \(The batch size/,
    );
  });
});

describe('the run form kept in localStorage (versioned)', () => {
  it('round-trips in the current envelope and migrates the bare form of version 0', () => {
    const text = storeForm(DEFAULT_FORM);
    expect(JSON.parse(text).v).toBe(FORM_SCHEMA_VERSION);
    expect(recallStoredForm(text)).toEqual({ ok: true, value: DEFAULT_FORM });
    expect(recallStoredForm(JSON.stringify(DEFAULT_FORM))).toEqual({ ok: true, value: DEFAULT_FORM });
    expect(recallStoredForm(null)).toBeUndefined();
  });

  it('sets aside corrupt, stale and future forms with a reason instead of returning them', () => {
    const reasons = [
      '{"preset": ',
      JSON.stringify({ ...DEFAULT_FORM, preset: 'constructor' }),
      JSON.stringify({ v: 1, data: { ...DEFAULT_FORM, maskRatio: 'x' } }),
      JSON.stringify({ v: 1, data: { ...DEFAULT_FORM, batchSize: null } }),
      JSON.stringify({ v: 9, data: DEFAULT_FORM }),
      'null',
    ].map((text) => {
      const recalled = recallStoredForm(text);
      expect(recalled?.ok).toBe(false);
      return recalled && !recalled.ok ? recalled.reason : '';
    });
    expect(reasons).toEqual([
      'the saved settings are not valid JSON',
      'they were saved by an older SparkLab and cannot be read (its preset is not valid)',
      'the saved settings are damaged (its mask ratio is not valid)',
      'the saved settings are damaged (its batch size is not valid)',
      'they were saved by a newer SparkLab (settings version 9)',
      'they were saved by an older SparkLab and cannot be read (it is not an object)',
    ]);
  });

  it('names the SparkLab version that wrote a file of another format version', () => {
    expect(formatMismatch('sparklab-spark-state/2', 'sparklab-spark-state/1', 'w.safetensors')).toBe(
      'w.safetensors was saved by a newer SparkLab (format sparklab-spark-state/2); this version reads sparklab-spark-state/1: update SparkLab to open it.',
    );
    expect(formatMismatch('sparklab-spark-state/0', 'sparklab-spark-state/1', 'w')).toMatch(
      /an older SparkLab/,
    );
    expect(formatMismatch('sparklab-spark-state/1', 'sparklab-spark-state/1', 'w')).toBeUndefined();
  });
});

describe('duplicate file names and the held-out split', () => {
  it('keeps same-named files apart, so the split by name still leaves images to train on', async () => {
    const images = new ImageCollection(decodeImageNode);
    const files = Array.from({ length: 4 }, (_, i) => ({
      name: 'IMG_0001.png',
      bytes: pngBytes(4, 4, new Array(64).fill(50 * i)),
    }));
    const { added } = await images.add(files);
    expect(added.map((i) => i.name)).toEqual([
      'IMG_0001.png',
      'IMG_0001.png (2)',
      'IMG_0001.png (3)',
      'IMG_0001.png (4)',
    ]);
    const dataset = userPhotoDataset(images.requireUsable(), { imageSize: 4 });
    expect([dataset.trainCount, dataset.heldOutCount]).toEqual([3, 1]);
  });
});

describe('comparisons against expected tensors holding ±Inf', () => {
  it('allclose: an infinite expected value must be matched exactly and does not widen the bound', () => {
    expect(compareClose([0], [Number.POSITIVE_INFINITY]).ok).toBe(false);
    expect(compareClose([Number.NEGATIVE_INFINITY], [Number.POSITIVE_INFINITY]).ok).toBe(false);
    expect(compareClose([Number.POSITIVE_INFINITY, 1], [Number.POSITIVE_INFINITY, 1]).ok).toBe(true);
    expect(compareClose([Number.POSITIVE_INFINITY, 1e6], [Number.POSITIVE_INFINITY, 1]).ok).toBe(false);
  });

  it('parity: a fixture whose expected loss is Inf does not pass every backend', () => {
    const fixture = {
      fileName: 'inf',
      expected: new Map([
        ['eval/loss', { shape: [], data: Float64Array.of(Number.POSITIVE_INFINITY) }],
        ['eval/masked', { shape: [2], data: Float64Array.of(Number.NEGATIVE_INFINITY, 1) }],
      ]),
    } as unknown as ParityFixture;
    const results = {
      eval: { loss: 3, masked: [Number.NEGATIVE_INFINITY, 500], recOrInp: [] },
    } as unknown as ParityResults;
    const report = compareWithFixture(fixture, results);
    expect(report.comparisons.map((c) => [c.name, c.ok])).toEqual([
      ['eval/loss', false],
      ['eval/masked', false],
    ]);
    expect(report.ok).toBe(false);
  });
});
