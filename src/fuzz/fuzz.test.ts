import { describe, expect, it } from 'vitest';
import { runFuzz } from './runner';
import { FUZZ_TARGETS, type FuzzTarget } from './targets';

/** CI size: 2,000 mutated files per target, fixed seed (`npm run fuzz` runs the same targets for longer). */
const CI_ITERATIONS = 2000;
const CI_SEED = 20261130;

describe('fuzzing the readers of untrusted input (CI size)', () => {
  for (const name of Object.keys(FUZZ_TARGETS)) {
    it(`${name}: ${CI_ITERATIONS} mutated files, every one accepted or refused with a sentence`, async () => {
      const report = await runFuzz(FUZZ_TARGETS[name], { iterations: CI_ITERATIONS, seed: CI_SEED });
      expect(report.crashes.map((c) => `#${c.iteration}: ${c.error.split('\n')[0]}`)).toEqual([]);
      expect(report.iterations).toBe(CI_ITERATIONS);
      // Both outcomes occur, so the mutations neither all break the file nor all leave it alone (targets whose
      // seeds are refused as a whole, like .pth files without a SparK model, are only refused).
      if (report.seedsAccepted > 0) expect(report.accepted).toBeGreaterThan(0);
      expect(report.refused).toBeGreaterThan(CI_ITERATIONS / 2);
    }, 120_000);
  }

  it('the harness reports an unexpected error as a crash with the iteration that reproduces it', async () => {
    const fragile: FuzzTarget = {
      name: 'fragile',
      expectedErrors: new Set(['RangeError']),
      seeds: async () => [new Uint8Array([1, 2, 3, 4])],
      mutate: (rng, seed) => seed.map((b) => (rng.next() < 0.5 ? b : 0)),
      run: async (bytes) => {
        if (bytes[0] === 0) throw new TypeError('cannot read properties of undefined');
        if (bytes[1] === 0) throw new RangeError('a sentence');
        return 'accepted';
      },
    };
    const report = await runFuzz(fragile, { iterations: 50, seed: 1 });
    expect(report.crashes.length).toBeGreaterThan(0);
    expect(report.crashes[0].error).toMatch(/^TypeError: cannot read properties of undefined/);
    expect(report.refusedBy.RangeError).toBeGreaterThan(0);
    expect(report.accepted + report.refused + report.crashes.length).toBe(50);
  });
});
