import { describe, expect, it } from 'vitest';
import type { ProbeSummary } from '../probe/run';
import { readStoredRuns, runsFromFile, runsToFile } from './lab-persist';
import { newKeptRun } from './lab-store';
import { checkKeptProbe, keptProbeOf, percent } from './probe-results';
import { DEFAULT_FORM } from './run-config';

/** A page probe as the probe worker returns it (values written out by hand). */
const summary: ProbeSummary = {
  results: {
    random: { knn: { accuracy: 0.34, samples: 50 }, linear: { accuracy: 0.4, samples: 50 } },
    checkpoint: { knn: { accuracy: 0.52, samples: 50 }, linear: { accuracy: 0.58, samples: 50 } },
  },
  probeTrain: 100,
  probeTest: 50,
  classes: 10,
  chance: 0.16,
  shuffledControl: { arm: 'random', knn: { accuracy: 0.12, samples: 50 } },
  initHash: 'a450e258084b23f1',
};

const expected = {
  step: 7,
  knn: 0.52,
  linear: 0.58,
  randomKnn: 0.34,
  randomLinear: 0.4,
  controlKnn: 0.12,
  samples: 50,
  probeTrain: 100,
  chance: 0.16,
  initHash: 'a450e258084b23f1',
};

describe("a kept run's probe accuracy", () => {
  it('keeps the run’s and random init’s scores, the control, chance and the sizes of a page probe', () => {
    expect(keptProbeOf(summary, 7)).toEqual(expected);
  });

  it('has nothing to keep without k-NN of both arms', () => {
    expect(keptProbeOf({ ...summary, results: { random: summary.results.random } }, 7)).toBeUndefined();
  });

  it('survives storage and the runs file with the run; a damaged record is dropped, not shown wrong', () => {
    const run = { ...newKeptRun([], 'run-a', DEFAULT_FORM, 'finished'), probe: expected };
    expect(readStoredRuns([run]).runs[0].probe).toEqual(expected);
    const fromFile = runsFromFile(runsToFile([run], '0.0.0'), 'runs.json');
    expect(fromFile[0].probe).toEqual(expected);
    for (const damaged of [
      { ...expected, knn: 1.5 },
      { ...expected, knn: '52 %' },
      { ...expected, samples: 0 },
      { ...expected, linear: Number.NaN },
      { ...expected, initHash: 7 },
      'not a record',
    ]) {
      expect(checkKeptProbe(damaged)).toBeUndefined();
      const stored = readStoredRuns([{ ...run, probe: damaged }]);
      expect(stored.unreadable).toEqual([]);
      expect(stored.runs[0].probe).toBeUndefined();
    }
    expect(readStoredRuns([{ ...run, probe: undefined }]).runs[0].probe).toBeUndefined();
  });

  it('reads as a percentage with one decimal, or a dash', () => {
    expect(percent(0.5216)).toBe('52.2 %');
    expect(percent(undefined)).toBe('–');
  });
});
