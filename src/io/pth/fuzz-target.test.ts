import { describe, expect, it } from 'vitest';
import { PthError } from './errors';
import { type FuzzRandom, pthFuzzSeeds, pthFuzzTarget } from './fuzz-target';
import { readOfficial } from './official-read';
import { readPthBytes } from './read';

/** A small seeded generator with the harness's `next`/`int` surface. */
function random(seed: number): FuzzRandom {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return { next, int: (n: number) => Math.floor(next() * n) };
}

describe('pth fuzz target', () => {
  it('seeds are read, and the SparK one opens as a model', async () => {
    for (const seed of pthFuzzSeeds()) expect(await pthFuzzTarget.run(seed)).toBe('accepted');
    const seeds = pthFuzzSeeds();
    const opened = await readOfficial(await readPthBytes(seeds[seeds.length - 1]));
    expect(opened.optimizer?.steps).toEqual({ decay: 2, noDecay: 2 });
  });

  it('1,000 pth-aware mutations end in a result or a PthError sentence, and reach the unpickler', async () => {
    const rng = random(17);
    const seeds = await pthFuzzTarget.seeds();
    const messages = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const input = pthFuzzTarget.mutate(rng, seeds[i % seeds.length]);
      try {
        await pthFuzzTarget.run(input);
      } catch (error) {
        expect(error, String((error as Error).stack)).toBeInstanceOf(PthError);
        expect((error as Error).message.endsWith('.')).toBe(true);
        const kind = (error as Error).message.includes('pickle') ? 'pickle' : 'other';
        messages.set(kind, (messages.get(kind) ?? 0) + 1);
      }
    }
    // With the CRCs repaired, most damage is met by the unpickler rather than the checksum.
    expect(messages.get('pickle') ?? 0).toBeGreaterThan(250);
  });
});
