/**
 * Where the training worker comes from. The glob resolves at build time: while the worker module is not in
 * the tree the map is empty and the UI says so instead of failing to build.
 */
const workers = import.meta.glob<{ default: new () => Worker }>('../worker/trainer-worker.ts', {
  query: '?worker',
});

export const WORKER_MISSING =
  'This build has no training worker (src/worker/trainer-worker.ts is missing), so training is unavailable.';

export async function createTrainerWorker(): Promise<Worker> {
  const load = Object.values(workers)[0];
  if (!load) throw new Error(WORKER_MISSING);
  const module = await load();
  return new module.default();
}
