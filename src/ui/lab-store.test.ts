import { describe, expect, it } from 'vitest';
import { meanAndSpread } from './components/LabCharts';
import { alignSeries, smooth } from './components/RunChart';
import { checkRun, runsFromFile, runsToFile } from './lab-persist';
import {
  describeDiff,
  type KeptRun,
  METRICS_CSV_HEADER,
  metricsCsv,
  newKeptRun,
  pushHistory,
  seedGroupKey,
  WATCH_HISTORY,
} from './lab-store';
import { DEFAULT_FORM } from './run-config';

const sample = (step: number, loss: number) => ({
  step,
  loss,
  lr: 0.01,
  weightDecay: 0.04,
  gradNorm: 0.5,
  imagesPerSecond: 3,
  stepMs: 700,
});

describe('kept runs', () => {
  it('the table names only what differs from the reference run', () => {
    expect(describeDiff(DEFAULT_FORM, { ...DEFAULT_FORM, maskRatio: 0.8, encoder: 'dense-zero' })).toEqual([
      'mask ratio 0.6 → 0.8',
      'encoder sparse → dense-zero',
    ]);
    expect(describeDiff(DEFAULT_FORM, { ...DEFAULT_FORM, lr: '1e-3' })).toEqual(['lr default → 1e-3']);
    expect(describeDiff(DEFAULT_FORM, DEFAULT_FORM)).toEqual([]);
    expect(seedGroupKey({ ...DEFAULT_FORM, seed: 3 })).toBe(seedGroupKey(DEFAULT_FORM));
    expect(seedGroupKey({ ...DEFAULT_FORM, maskRatio: 0.4 })).not.toBe(seedGroupKey(DEFAULT_FORM));
  });

  it('the watch-set history keeps the first reconstruction and the most recent ones', () => {
    const thumb = (step: number) => ({ step }) as unknown as NonNullable<KeptRun['watch']>;
    let history: KeptRun['watchHistory'];
    for (let step = 0; step < 10; step++) history = pushHistory(history, thumb(step));
    expect(history?.map((h) => h.step)).toEqual([
      0,
      ...Array.from({ length: WATCH_HISTORY - 1 }, (_, i) => 10 - WATCH_HISTORY + 1 + i),
    ]);
  });

  it('the metrics CSV has the stated columns, joins the held-out loss by step and leaves gaps empty', () => {
    const csv = metricsCsv({
      metrics: [sample(1, 0.9), sample(2, 0.8)],
      heldOut: [
        { step: 0, loss: 1.1 },
        { step: 2, loss: 0.95 },
      ],
    });
    expect(csv.split('\n')).toEqual([
      METRICS_CSV_HEADER,
      '0,,1.1,,,,',
      '1,0.9,,0.01,0.5,3,700',
      '2,0.8,0.95,0.01,0.5,3,700',
      '',
    ]);
    expect(METRICS_CSV_HEADER).toBe('step,loss,heldout_loss,lr,grad_norm,images_per_s,step_ms');
  });

  it('seeds are drawn as the mean with the min–max spread at the steps every run has', () => {
    const spread = meanAndSpread([
      [
        { x: 1, y: 1 },
        { x: 2, y: 3 },
        { x: 3, y: 5 },
      ],
      [
        { x: 1, y: 3 },
        { x: 2, y: 5 },
      ],
    ]);
    expect(spread).toEqual({
      points: [
        { x: 1, y: 2 },
        { x: 2, y: 4 },
      ],
      lower: [1, 3],
      upper: [3, 5],
    });
    expect(smooth([1, 3, Number.NaN, 5], 0.5)).toEqual([1, 2, Number.NaN, 3.5]);
    const aligned = alignSeries([
      { label: 'a', color: '#000', points: [{ x: 2, y: 1 }] },
      {
        label: 'b',
        color: '#000',
        points: [
          { x: 1, y: 5 },
          { x: 2, y: Number.NaN },
        ],
      },
    ]);
    expect(aligned).toEqual([
      [1, 2],
      [null, 1],
      [5, null],
    ]);
  });

  it('runs survive a file round trip (curves, thumbnails); a bad file is refused with a sentence', () => {
    const run: KeptRun = {
      ...newKeptRun([], 'run-a', { ...DEFAULT_FORM, maskToken: 'zeros' }, 'finished'),
      metrics: [sample(1, 0.9)],
      heldOut: [{ step: 1, loss: 1 }],
      config: { model: { maskToken: 'zeros' } },
      watch: {
        step: 1,
        ratio: 0.6,
        visibleCells: 6,
        count: 1,
        grid: 4,
        mask: [1, 0, 1, 1],
        masked: { width: 1, height: 2, data: new Uint8ClampedArray([1, 2, 3, 4, 5, 6, 7, 8]) },
        composite: { width: 1, height: 1, data: new Uint8ClampedArray([9, 8, 7, 6]) },
        noLeak: { width: 1, height: 1, data: new Uint8ClampedArray([1, 1, 1, 1]) },
      },
    };
    run.watchHistory = [{ ...(run.watch as NonNullable<KeptRun['watch']>), step: 0, noLeak: undefined }];
    const [back] = runsFromFile(runsToFile([run], '0.1.0'), 'runs.json');
    expect(back).toEqual({ ...run, imported: true });
    expect(() => runsFromFile('{"format":"other"}', 'x.json')).toThrow(/x\.json is not a kept-runs file/);
    expect(() => runsFromFile('not json', 'y.json')).toThrow(
      /y\.json is not a kept-runs file: it is not JSON/,
    );
    expect(() =>
      checkRun(
        { ...run, watch: { ...run.watch, masked: { width: 3, height: 3, data: new Uint8ClampedArray(4) } } },
        'a run',
      ),
    ).toThrow(/masked thumbnail does not hold 3×3 RGBA pixels/);
  });
});
