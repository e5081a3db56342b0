import { beforeEach, describe, expect, it } from 'vitest';
import type { CheckpointInfo } from '../worker/protocol';
import { LabClient } from './lab-client';
import { type KeptRun, newKeptRun, useLabStore } from './lab-store';
import { DEFAULT_FORM } from './run-config';
import { INITIAL_RUN, useAppStore } from './store';

/** A run whose thumbnails take `bytes` (the budget counts records, thumbnails and checkpoints). */
function runOf(id: string, createdAt: number, bytes: number, pinned = false): KeptRun {
  const picture = { width: bytes / 8, height: 1, data: new Uint8ClampedArray(bytes / 2) };
  return {
    ...newKeptRun([], id, DEFAULT_FORM, 'finished'),
    label: `#${id}`,
    createdAt,
    pinned,
    watch: {
      step: 1,
      ratio: 0.6,
      visibleCells: 6,
      count: 1,
      grid: 4,
      mask: [],
      masked: picture,
      composite: picture,
    },
  };
}

describe('the storage budget of kept runs', () => {
  let deleted: string[];
  let checkpoints: CheckpointInfo[];
  let lab: LabClient;
  beforeEach(() => {
    deleted = [];
    checkpoints = [{ name: 'b', runId: 'b', step: 3, bytes: 300_000, savedAt: '2026-01-01T00:00:00Z' }];
    const remote = {
      listCheckpoints: async () => checkpoints,
      deleteCheckpoint: async (name: string) => {
        deleted.push(name);
        checkpoints = checkpoints.filter((c) => c.name !== name);
      },
    };
    lab = new LabClient({
      remote: async () => remote as never,
      startFresh: async () => true,
      resume: async () => true,
      refreshStorage: async () => {},
    });
    useAppStore.setState({ run: { ...INITIAL_RUN, runId: 'd' }, notices: [] });
  });

  it('removes the oldest unpinned runs (not the current one) with their checkpoints, each with a notice', async () => {
    useLabStore.setState({
      runs: [
        runOf('a', 1, 200_000, true),
        runOf('b', 2, 200_000),
        runOf('c', 3, 200_000),
        runOf('d', 0, 200_000),
      ],
      selected: ['b', 'c'],
      storage: { usedBytes: 0, budgetBytes: 500_000, persisted: true },
    });
    // Lists the checkpoints (IndexedDB itself is absent here: its notice is not what this test is about).
    await lab.restore();
    await lab.enforceBudget();
    // a is pinned, d is the current run: b (older, with a 300 kB checkpoint) goes, then c.
    expect(useLabStore.getState().runs.map((r) => r.id)).toEqual(['a', 'd']);
    expect(deleted).toEqual(['b']);
    expect(useLabStore.getState().selected).toEqual([]);
    const notices = useAppStore
      .getState()
      .notices.filter((n) => n.kind === 'storage' && /budget/.test(n.text))
      .map((n) => n.text);
    expect(notices[0]).toMatch(
      /storage budget \(0\.5 MiB\) was reached: run #b \(the oldest unpinned\) and its checkpoint were removed/,
    );
    expect(notices[1]).toMatch(/run #c/);
    expect(useLabStore.getState().storage.usedBytes).toBeLessThanOrEqual(500_000);
  });

  it('says so when only pinned runs are left over the budget, and removes nothing', async () => {
    useLabStore.setState({
      runs: [runOf('a', 1, 400_000, true), runOf('d', 2, 400_000)],
      storage: { usedBytes: 0, budgetBytes: 500_000, persisted: true },
    });
    await lab.enforceBudget();
    expect(useLabStore.getState().runs).toHaveLength(2);
    expect(useAppStore.getState().notices.at(-1)?.text).toMatch(
      /every other run is pinned: unpin or delete one/,
    );
  });
});
