/** Labelled synthetic images for the probe's tests: the class is known by construction. */
import type { SparkConfig } from '../src/models/config';
import { preset } from '../src/models/presets';
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

/** A 16-px, 4/8-wide two-stage ResNet: the smallest encoder the probe's GPU tests build (seconds each). */
export function smallEncoderConfig(): SparkConfig {
  const tiny = preset('tiny');
  if (tiny.backbone.family !== 'resnet') throw new Error('The tiny preset is expected to be a ResNet.');
  return {
    ...tiny,
    inputSize: 16,
    decoderWidth: 8,
    backbone: { ...tiny.backbone, stemWidth: 4, widths: [4, 8], depths: [1, 1], stageStrides: [2, 2] },
  };
}
