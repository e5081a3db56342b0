/** The training worker (src/worker/trainer-worker.ts), bundled by Vite as a module worker. */
export async function createTrainerWorker(): Promise<Worker> {
  return new Worker(new URL('../worker/trainer-worker.ts', import.meta.url), {
    type: 'module',
    name: 'sparklab-trainer',
  });
}
