import { describe, expect, it } from 'vitest';
import { KEPT_RUN_SCHEMA, keysToDelete, readStoredRuns } from './lab-persist';
import { newKeptRun } from './lab-store';
import { DEFAULT_FORM } from './run-config';

const run = (id: string) => newKeptRun([], id, DEFAULT_FORM, 'finished');

describe('stored kept runs across SparkLab versions', () => {
  it('reads records of this schema and records written before the schema field (schema 0)', () => {
    const current = { ...run('run-a'), schema: KEPT_RUN_SCHEMA };
    const unversioned = run('run-b');
    const { runs, unreadable } = readStoredRuns([current, unversioned]);
    expect(runs.map((r) => r.id)).toEqual(['run-a', 'run-b']);
    expect(unreadable).toEqual([]);
  });

  it('names a record from a newer SparkLab and a damaged record instead of dropping them silently', () => {
    const newer = { ...run('run-new'), schema: KEPT_RUN_SCHEMA + 1 };
    const damaged = { id: 'run-bad', schema: KEPT_RUN_SCHEMA, metrics: 'not a list' };
    const { runs, unreadable } = readStoredRuns([newer, damaged, run('run-ok')]);
    expect(runs.map((r) => r.id)).toEqual(['run-ok']);
    expect(unreadable.map((u) => u.id)).toEqual(['run-new', 'run-bad']);
    expect(unreadable[0].reason).toMatch(/saved by a newer SparkLab \(record schema 2; this page reads 1\)/);
    expect(unreadable[1].reason).toMatch(/run-bad.*no metrics list/);
  });

  it('a save deletes runs the user removed but never a record this page could not read', () => {
    const kept = [run('run-a')];
    expect(keysToDelete(['run-a', 'run-removed', 'run-new'], kept, new Set(['run-new']))).toEqual([
      'run-removed',
    ]);
  });
});
