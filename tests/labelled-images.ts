/** Labelled synthetic images for the probe's tests: the class is known by construction. */
import type { LabelledSplit } from '../src/probe/data';
import { Rng } from '../src/util/random';

/** 16-px images whose class is the dominant colour channel, or none (4 classes), with noise and random gain. */
export function quadrantSplit(count: number, seed: number, size: number): LabelledSplit {
  const rng = new Rng(seed);
  const labels = Int32Array.from({ length: count }, (_, i) => i % 4);
  const pixels = Array.from(labels, (c) => {
    const img = new Float32Array(3 * size * size);
    const gain = 1 + rng.next();
    for (let ch = 0; ch < 3; ch++)
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          img[(ch * size + y) * size + x] = (ch === c ? gain : -gain) + rng.normal() * 0.5;
        }
    return img;
  });
  return { count, labels, write: (i, batch, slot) => batch.set(pixels[i], slot * 3 * size * size) };
}
