import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { type GuardState, guardStep } from '../reference/trainerGuard';
import { Rng } from '../util/random';
import { StateGuard } from './trainer-guard';

const SPECIAL = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];

/**
 * Drives the GPU guard and its twin through the same sequence of steps: before each step the "previous
 * step" wrote a loss and a gradient norm (finite or not) and the state holds new values.
 */
async function runSequence(lengths: number[], steps: { check: boolean; bad: number }[], seed: number) {
  const gpu = await testGpu();
  const rng = new Rng(seed);
  const loss = gpu.upload('loss', new Float32Array([0]));
  const normIndex = 3;
  const gradStats = gpu.upload('grad_stats', new Float32Array(5));
  const state = lengths.map((n, i) => gpu.upload(`state${i}`, new Float32Array(n)));
  const guard = new StateGuard(gpu, { loss, gradStats, normIndex, state });
  let twin: GuardState = { healthy: true, backups: lengths.map((n) => new Float64Array(n)) };
  // The backups start undefined on the GPU; make the first step a reset so both sides agree.
  for (const [s, step] of steps.entries()) {
    const check = s === 0 ? false : step.check;
    // bad: 0 = finite, 1 = loss non-finite, 2 = grad norm non-finite.
    const lossValue = step.bad === 1 ? SPECIAL[s % 3] : rng.uniform(0, 3);
    const normValue = step.bad === 2 ? SPECIAL[(s + 1) % 3] : rng.uniform(0, 10);
    gpu.write(loss, new Float32Array([lossValue]));
    gpu.write(gradStats, new Float32Array([1, 2, 3, normValue, 5]));
    const currents = lengths.map((n) => rng.floats(n, -2, 2));
    currents.forEach((c, i) => {
      gpu.write(state[i], c);
    });
    guard.beginStep(check);
    gpu.submit('guard', (pass) => guard.encode(pass));
    twin = guardStep(twin, check, Math.fround(lossValue), Math.fround(normValue), currents);
    expect(await guard.readHealthy()).toBe(twin.healthy);
  }
  for (const [i, backup] of guard.backups.entries()) {
    // A copy: exact.
    expect(Array.from(await gpu.read(backup))).toEqual(Array.from(twin.backups[i]));
  }
  // restore() puts the frozen backups back over the state.
  guard.restore();
  for (const [i, t] of state.entries())
    expect(Array.from(await gpu.read(t))).toEqual(Array.from(twin.backups[i]));
  guard.release();
  for (const t of [loss, gradStats, ...state]) gpu.releaseTensor(t);
}

describe('StateGuard (last good state on the GPU)', () => {
  it('freezes the backups at the state before the first non-finite step (lengths 4, 64, 1028)', async () => {
    await runSequence(
      [4, 64, 1028],
      [
        { check: false, bad: 0 },
        { check: true, bad: 0 },
        { check: true, bad: 0 },
        { check: true, bad: 1 },
        { check: true, bad: 0 },
        { check: true, bad: 2 },
      ],
      1,
    );
  });

  it('a reset (check_previous = 0) re-arms the guard after a rollback', async () => {
    await runSequence(
      [8],
      [
        { check: false, bad: 0 },
        { check: true, bad: 2 },
        { check: true, bad: 0 },
        { check: false, bad: 0 },
        { check: true, bad: 0 },
      ],
      2,
    );
  });

  it('random sequences and lengths agree with the twin', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.integer({ min: 1, max: 300 }).map((n) => n * 4),
          { minLength: 1, maxLength: 3 },
        ),
        fc.array(fc.record({ check: fc.boolean(), bad: fc.integer({ min: 0, max: 2 }) }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.integer({ min: 0, max: 1000 }),
        async (lengths, steps, seed) => {
          await runSequence(lengths, steps, seed);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('rejects a state tensor whose length is not a multiple of 4 with a sentence', async () => {
    const gpu = await testGpu();
    const loss = gpu.upload('loss', new Float32Array([0]));
    const t = gpu.upload('odd', new Float32Array(6));
    expect(() => new StateGuard(gpu, { loss, gradStats: loss, normIndex: 0, state: [t] })).toThrow(
      /not a multiple of 4/,
    );
    gpu.releaseTensor(loss);
    gpu.releaseTensor(t);
  });
});
