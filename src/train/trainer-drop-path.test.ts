/**
 * Drop path in a training run: the trainer draws each step's decisions from (seed, step), so two runs of one
 * seed agree bit for bit, a run resumed from a checkpoint continues exactly as the uninterrupted one, and the
 * rate changes what is learnt (the draws are really applied).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import { Trainer, type TrainerOptions } from './trainer';
import { expectSameState, microConfig, options } from './trainer-test-utils';

const created: Trainer[] = [];
async function make(gpu: Gpu, opts: TrainerOptions): Promise<Trainer> {
  const trainer = await Trainer.create(gpu, opts);
  created.push(trainer);
  return trainer;
}
afterAll(() => {
  for (const t of created) t.destroy();
});

/** Two residual blocks (rates 0 and 0.5): the second drops about half of the images each step. */
const withDropPath = (rate: number) =>
  options({
    config: microConfig({
      dropPathRate: rate,
      backbone: { ...(microConfig().backbone as object), depths: [2] } as ReturnType<
        typeof microConfig
      >['backbone'],
    }),
  });

describe('training with drop path', () => {
  it('replays per seed, resumes bit-identically from a checkpoint, and differs from a run without it', async () => {
    const gpu = await testGpu();
    const a = await make(gpu, withDropPath(0.5));
    const b = await make(gpu, withDropPath(0.5));
    const drawn: [number, number][] = [];
    const draw = b.model.setDropPath.bind(b.model);
    b.model.setDropPath = (seed, step) => {
      drawn.push([seed, step]);
      draw(seed, step);
    };
    await a.run(2);
    const midway = await a.checkpoint();
    await a.run(2);
    await b.run(4);
    // One draw per step, from the run's seed and the step's index.
    expect(drawn).toEqual([
      [3, 0],
      [3, 1],
      [3, 2],
      [3, 3],
    ]);
    const stateA = await a.capture();
    expectSameState(stateA, await b.capture());

    const resumed = await make(gpu, withDropPath(0.5));
    await resumed.restoreBytes(midway, 'midway.safetensors');
    await resumed.run(2);
    expectSameState(stateA, await resumed.capture());

    const plain = await make(gpu, withDropPath(0));
    await plain.run(4);
    const statePlain = await plain.capture();
    const name = 'sparse_encoder.sp_cnn.layer1.1.conv1.weight';
    expect([...statePlain.state.get(name)!]).not.toEqual([...stateA.state.get(name)!]);
  }, 300_000);
});
