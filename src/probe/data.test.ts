import { describe, expect, it } from 'vitest';
import { FASHION_MNIST_TRAIN_COUNT } from '../data/builtin';
import { FashionMnistDataset } from '../data/datasets';
import type { NamedImage } from '../data/image-set';
import { officialInitialState } from '../models/init';
import { preset } from '../models/presets';
import { type ClassImages, chanceLevel, fashionProbeData, splitClasses } from './data';
import { weightsHash } from './hash';
import { encoderHash } from './run';

function image(name: string): NamedImage {
  return { name, width: 2, height: 2, data: new Uint8Array(12) };
}

describe('probe data', () => {
  it('Fashion-MNIST: probe-train is the pre-training range, probe-test the held-out range', () => {
    const total = 10_000;
    const pixels = new Uint8Array(total * 784);
    for (let i = 0; i < total; i++) pixels[i * 784] = i % 251; // image i is recognisable by its first byte
    const labels = Uint8Array.from({ length: total }, (_, i) => i % 10);
    const dataset = new FashionMnistDataset(pixels, {
      imageSize: 32,
      normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
    });
    const data = fashionProbeData(dataset, labels, { probeTest: 7 });
    expect([data.train.count, data.test.count]).toEqual([FASHION_MNIST_TRAIN_COUNT, 7]);
    expect(data.test.labels[0]).toBe(labels[FASHION_MNIST_TRAIN_COUNT]);
    const batch = new Float32Array(3 * 32 * 32);
    data.test.write(0, batch, 0);
    // Padded by 2 px: pixel (2, 2) is the image's first byte, /255 with identity normalisation.
    expect(batch[2 * 32 + 2]).toBeCloseTo((FASHION_MNIST_TRAIN_COUNT % 251) / 255, 6);
    expect(() => fashionProbeData(dataset, labels.subarray(1))).toThrow(/9999 labels for 10000 images/);
  });

  it('class folders: a fifth of each class (at least one) to probe-test, deterministic, no overlap', () => {
    const classes: ClassImages[] = [
      { name: 'a', images: Array.from({ length: 10 }, (_, i) => image(`a${i}`)) },
      { name: 'b', images: Array.from({ length: 3 }, (_, i) => image(`b${i}`)) },
      { name: 'c', images: [image('c0')] },
    ];
    const first = splitClasses(classes);
    expect(splitClasses(classes)).toEqual(first);
    const count = (pairs: [number, number][], c: number) => pairs.filter(([ci]) => ci === c).length;
    expect([0, 1, 2].map((c) => count(first.test, c))).toEqual([2, 1, 0]);
    expect([0, 1, 2].map((c) => count(first.train, c))).toEqual([8, 2, 1]);
    const key = ([c, i]: [number, number]) => `${c}/${i}`;
    const train = new Set(first.train.map(key));
    expect(first.test.some((p) => train.has(key(p)))).toBe(false);
  });

  it('chance is the most frequent test class', () => {
    expect(chanceLevel(Int32Array.of(0, 1, 1, 2), 3)).toBe(0.5);
  });
});

describe('initial weights of the arms', () => {
  it('random, sparse and dense-zero start from the same encoder weights (same hash)', () => {
    const config = preset('tiny');
    const sparse = officialInitialState({ ...config, encoder: 'sparse' }, 0);
    const dense = officialInitialState({ ...config, encoder: 'dense-zero' }, 0);
    expect(encoderHash(config, dense)).toBe(encoderHash(config, sparse));
    expect(encoderHash(config, officialInitialState(config, 1))).not.toBe(encoderHash(config, sparse));
  });

  it('the hash sees every value and name', () => {
    const a = new Map([['x', Float32Array.of(1, 2)]]);
    expect(weightsHash(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(weightsHash(new Map([['x', Float32Array.of(1, 2.0000002)]]))).not.toBe(weightsHash(a));
    expect(weightsHash(new Map([['y', Float32Array.of(1, 2)]]))).not.toBe(weightsHash(a));
  });
});
