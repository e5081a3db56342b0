import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Rng } from '../util/random';
import { IMAGENET_NORMALIZATION } from './augment';
import { FASHION_MNIST_TRAIN_COUNT, HELD_OUT_PHOTOS } from './builtin';
import { fashionMnistDatasetNode, loadFashionMnistNode, photoDatasetNode } from './builtin-node';
import { FashionMnistDataset, LiveFrameDataset, PhotoDataset, userHeldOut } from './datasets';
import { gunzipWeb, parseIdx } from './idx';
import type { NamedImage } from './image-set';

const mean = IMAGENET_NORMALIZATION.mean;
const std = IMAGENET_NORMALIZATION.std;
/** Normalised value of an 8-bit grey level in channel c. */
const norm = (v: number, c: number) => (v / 255 - mean[c]) / std[c];

function flatImage(name: string, value: number, width = 20, height = 16): NamedImage {
  return { name, width, height, data: new Uint8Array(width * height * 3).fill(value) };
}

describe('IDX parsing', () => {
  it('reads the shipped Fashion-MNIST split: 10000 images of 28×28 and 10000 labels 0–9', async () => {
    const { pixels, labels } = await loadFashionMnistNode();
    expect(pixels.length).toBe(10000 * 28 * 28);
    expect(labels.length).toBe(10000);
    expect(Math.max(...labels)).toBe(9);
  });

  it('gunzips with DecompressionStream to the same bytes as zlib', async () => {
    const gz = new Uint8Array(
      await readFile(new URL('../../public/data/fashion-mnist/t10k-labels-idx1-ubyte.gz', import.meta.url)),
    );
    expect(Buffer.from(await gunzipWeb(gz)).equals(gunzipSync(gz))).toBe(true);
  });

  it('explains malformed files', () => {
    expect(() => parseIdx(new Uint8Array([1, 2, 3, 4]))).toThrow(
      'The IDX file is not in IDX format (it does not start with two zero bytes).',
    );
    expect(() => parseIdx(new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]))).toThrow(
      /type 0xd; only unsigned bytes/,
    );
    expect(() => parseIdx(new Uint8Array([0, 0, 8, 2, 0, 0]))).toThrow(/truncated/);
    expect(() => parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 3, 7, 7]))).toThrow(
      'The IDX file declares 3 = 3 values but holds 2 (damaged file).',
    );
    expect(parseIdx(new Uint8Array([0, 0, 8, 2, 0, 0, 0, 1, 0, 0, 0, 2, 5, 6]))).toEqual({
      dims: [1, 2],
      data: new Uint8Array([5, 6]),
    });
  });
});

describe('FashionMnistDataset', () => {
  /** Four synthetic 28×28 images: image i has every pixel = 10·(i+1), except pixel (3, 5) = 255. */
  function synthetic(): Uint8Array {
    const pixels = new Uint8Array(4 * 784);
    for (let i = 0; i < 4; i++) {
      pixels.fill(10 * (i + 1), i * 784, (i + 1) * 784);
      pixels[i * 784 + 5 * 28 + 3] = 255;
    }
    return pixels;
  }

  it('pads 28×28 to 32×32 exactly, grey copied to 3 channels, border = normalised black', () => {
    const data = new FashionMnistDataset(synthetic(), { imageSize: 32, trainCount: 3, flip: false });
    expect(data.fit).toBe('pad');
    const held = data.heldOutBatch(1);
    expect(held.length).toBe(3 * 32 * 32);
    for (let c = 0; c < 3; c++) {
      const plane = held.subarray(c * 1024, (c + 1) * 1024);
      expect(plane[0]).toBeCloseTo(norm(0, c), 5);
      expect(plane[2 * 32 + 2]).toBeCloseTo(norm(40, c), 5);
      expect(plane[(5 + 2) * 32 + 3 + 2]).toBeCloseTo(norm(255, c), 5);
      expect(plane[29 * 32 + 29]).toBeCloseTo(norm(40, c), 5);
      expect(plane[30 * 32 + 30]).toBeCloseTo(norm(0, c), 5);
    }
  });

  it('resizes for a 64-px model, with held-out images only from the held-out indices', () => {
    const data = new FashionMnistDataset(synthetic(), { imageSize: 64, trainCount: 2, flip: false });
    expect(data.fit).toBe('resize');
    expect([data.trainCount, data.heldOutCount]).toEqual([2, 2]);
    const held = data.heldOutBatch(3);
    // Images 2, 3, then 2 again; corners are far from the bright pixel so they keep the flat level.
    expect(held[0]).toBeCloseTo(norm(30, 0), 4);
    expect(held[3 * 64 * 64]).toBeCloseTo(norm(40, 0), 4);
    expect(held[6 * 64 * 64]).toBeCloseTo(norm(30, 0), 4);
    const train = data.trainBatch(50, new Rng(1));
    for (let b = 0; b < 50; b++) {
      const corner = train[b * 3 * 64 * 64];
      expect([norm(10, 0), norm(20, 0)].some((v) => Math.abs(corner - v) < 1e-4)).toBe(true);
    }
  });

  it('is deterministic for a seed, different across seeds, and reuses the output buffer', async () => {
    const data = await fashionMnistDatasetNode({ imageSize: 32 });
    expect([data.trainCount, data.heldOutCount]).toEqual([FASHION_MNIST_TRAIN_COUNT, 1000]);
    const a = data.trainBatch(4, new Rng(7));
    const out = new Float32Array(a.length);
    expect(data.trainBatch(4, new Rng(7), out)).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(a));
    expect(Array.from(data.trainBatch(4, new Rng(8)))).not.toEqual(Array.from(a));
    expect(Array.from(data.heldOutBatch(4))).toEqual(Array.from(data.heldOutBatch(4)));
    expect(() => data.trainBatch(4, new Rng(1), new Float32Array(5))).toThrow(
      'The batch buffer holds 5 floats but 4×3×32×32 = 12288 are needed.',
    );
  });

  it('refuses impossible options with sentences', () => {
    expect(() => new FashionMnistDataset(synthetic(), { imageSize: 16, fit: 'pad' })).toThrow(
      'Fashion-MNIST cannot be padded to 16 px, which is smaller than 28; use resize.',
    );
    expect(() => new FashionMnistDataset(new Uint8Array(100), { imageSize: 32 })).toThrow(/N×28×28 bytes/);
    expect(() => new FashionMnistDataset(synthetic(), { imageSize: 0 })).toThrow(
      'Image size must be a positive integer, not 0.',
    );
  });
});

describe('PhotoDataset', () => {
  it('never shows held-out photos in training and only held-out photos in the held-out batch', () => {
    const images = [flatImage('a.png', 255), flatImage('b.png', 255, 30, 25), flatImage('held.png', 0)];
    const data = new PhotoDataset('test', images, { imageSize: 8, heldOut: ['held.png'] });
    const train = data.trainBatch(16, new Rng(3));
    for (let i = 0; i < train.length; i++) expect(train[i]).toBeCloseTo(norm(255, Math.floor(i / 64) % 3), 4);
    const held = data.heldOutBatch(5);
    for (let i = 0; i < held.length; i++) expect(held[i]).toBeCloseTo(norm(0, Math.floor(i / 64) % 3), 4);
  });

  it('validates its held-out names', () => {
    expect(
      () => new PhotoDataset('mine', [flatImage('a.png', 1)], { imageSize: 8, heldOut: ['x.png'] }),
    ).toThrow('The held-out image x.png is not in the mine set.');
    expect(
      () => new PhotoDataset('mine', [flatImage('a.png', 1)], { imageSize: 8, heldOut: ['a.png'] }),
    ).toThrow('The mine set has no image left for training after holding out 1.');
  });

  it('uses training photos for the held-out batch when nothing is held out', () => {
    const data = new PhotoDataset('small', [flatImage('a.png', 100)], { imageSize: 4 });
    expect(data.heldOutBatch(2)[0]).toBeCloseTo(norm(100, 0), 4);
  });

  it('userHeldOut holds out one image in eight by name, at least one from 4 images on', () => {
    expect(userHeldOut(['c', 'b', 'a'])).toEqual([]);
    expect(userHeldOut(['d', 'c', 'b', 'a'])).toEqual(['d']);
    const names = Array.from({ length: 20 }, (_, i) => `img${String(i).padStart(2, '0')}`);
    expect(userHeldOut(names)).toEqual(['img09', 'img19']);
  });

  it('loads the 12 built-in photos with coffee and gravel held out; batches are finite and seeded', async () => {
    const data = await photoDatasetNode({ imageSize: 32 });
    expect([data.trainCount, data.heldOutCount]).toEqual([10, 2]);
    expect(data.heldOut.map((i) => i.name)).toEqual([...HELD_OUT_PHOTOS]);
    const a = data.trainBatch(3, new Rng(11));
    expect(a.length).toBe(3 * 3 * 32 * 32);
    expect(a.every(Number.isFinite)).toBe(true);
    expect(Array.from(data.trainBatch(3, new Rng(11)))).toEqual(Array.from(a));
    const native = new PhotoDataset('photos', [...data.train, ...data.heldOut], {
      imageSize: 32,
      heldOut: HELD_OUT_PHOTOS,
      augment: { crop: 'native' },
    });
    expect(native.trainBatch(2, new Rng(1)).every(Number.isFinite)).toBe(true);
  });
});

describe('LiveFrameDataset', () => {
  it('keeps the first frames as held-out, trains on the latest `capacity` frames only', () => {
    const live = new LiveFrameDataset({ imageSize: 4, capacity: 3, heldOutFrames: 2 });
    expect(() => live.heldOutBatch(1)).toThrow(
      'No webcam frame has arrived yet, so there is no held-out set.',
    );
    live.push(flatImage('f0', 0, 8, 6));
    live.push(flatImage('f1', 10, 8, 6));
    expect(() => live.trainBatch(2, new Rng(0))).toThrow(
      /^No webcam frames to train on yet: the first 2 are kept/,
    );
    for (let v = 20; v <= 60; v += 10) live.push(flatImage(`f${v}`, v, 8, 6));
    expect([live.received, live.trainCount, live.heldOutCount]).toEqual([7, 3, 2]);
    // Frames 20 and 30 were replaced by 50 and 60; 40, 50, 60 remain.
    const seen = new Set<number>();
    const train = live.trainBatch(40, new Rng(2));
    for (let b = 0; b < 40; b++) seen.add(Math.round((train[b * 48] * std[0] + mean[0]) * 255));
    expect([...seen].sort((a, b) => a - b)).toEqual([40, 50, 60]);
    const held = live.heldOutBatch(4);
    const heldValues = [0, 1, 2, 3].map((b) => Math.round((held[b * 48] * std[0] + mean[0]) * 255) + 0);
    expect(heldValues).toEqual([0, 10, 0, 10]);
    expect(() => new LiveFrameDataset({ imageSize: 4, capacity: 0 })).toThrow(
      'The live frame capacity must be a positive integer, not 0.',
    );
  });
});
