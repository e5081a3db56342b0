import { afterAll, describe, expect, it } from 'vitest';
import { createNodeGpu } from '../gpu/node';
import type { Gpu } from '../gpu/runtime';
import { Trainer, type TrainerEvent, type TrainerOptions } from './trainer';
import { expectSameState, options } from './trainer-test-utils';

// Its own file: two fresh devices compile every pipeline again, which takes most of a minute on SwiftShader.
const created: Trainer[] = [];
async function make(gpu: Gpu, opts: TrainerOptions): Promise<Trainer> {
  const trainer = await Trainer.create(gpu, opts);
  created.push(trainer);
  return trainer;
}
afterAll(() => {
  for (const t of created) {
    try {
      t.destroy();
    } catch {
      // Trainers on a destroyed device have nothing left to free.
    }
  }
});

describe('Trainer device loss (8-px ResNet, batch 2)', () => {
  it('recovers from a destroyed device: new device, last checkpoint restored, same result as an uninterrupted run', async () => {
    // Its own device, so destroying it leaves the shared test device alone.
    const own = await createNodeGpu('device-loss test');
    const events: TrainerEvent[] = [];
    const fresh: Gpu[] = [];
    const trainer = await make(
      own,
      options({
        checkpointEvery: 4,
        createGpu: async () => {
          const gpu = await createNodeGpu('recovered');
          fresh.push(gpu);
          return gpu;
        },
        onEvent: (e) => events.push(e),
      }),
    );
    await trainer.run(6);
    expect(trainer.lastCheckpoint?.step).toBe(4);
    own.device.destroy();
    const outcome = await trainer.run(4);
    expect(outcome).toEqual({ status: 'completed', step: 10 });
    expect(fresh).toHaveLength(1);
    expect(trainer.gpu).toBe(fresh[0]);
    const lost = events.find((e) => e.type === 'device-lost');
    expect(lost).toMatchObject({ type: 'device-lost', recovered: true, resumedFromStep: 4 });

    // On the recovered device, whose pipelines are compiled by now (compiling is most of this test's time).
    const reference = await make(fresh[0], options());
    await reference.run(10);
    expectSameState(await reference.capture(), await trainer.capture());
    // Two devices compile every pipeline: ~20 s on a quiet machine, several times that on a busy one.
  }, 300_000);
});
