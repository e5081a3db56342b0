import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { MemoryCheckpointStore } from '../io/checkpoint-store';
import { lenKeep } from '../sparse/mask';
import { randomDataset } from '../train/trainer-test-utils';
import { YARDSTICK_RATIO } from './lab-eval';
import { heldOutSlice } from './lab-service';
import { cellOrder, nestedMasks } from './nested-mask';
import type { RunConfig } from './protocol';
import { TrainerWorker, type WorkerHost } from './trainer-worker';

const host: WorkerHost = {
  createGpu: () => testGpu(),
  store: new MemoryCheckpointStore(),
  loadDataset: async (_config, imageSize) => randomDataset(imageSize),
  decodeImage: async () => {
    throw new Error('no images in this test');
  },
};

/** The 8-px micro model of the worker tests: stride 2, a 4×4 mask grid (16 cells). */
const RUN: RunConfig = {
  preset: 'tiny',
  model: {
    inputSize: 8,
    maskRatio: 0.5,
    decoderWidth: 8,
    backbone: {
      family: 'resnet',
      block: 'basic',
      stemWidth: 4,
      stemKernel: 3,
      stemStride: 1,
      maxpool: false,
      widths: [4],
      depths: [1],
      stageStrides: [2],
    },
  },
  data: { kind: 'fashion-mnist' },
  batchSize: 2,
  steps: 4,
  seed: 3,
  lr: 5e-3,
  metricsEvery: 1,
  checkpointEvery: 0,
};

describe('nested watch-set masks', () => {
  it('are one fixed permutation per image, and a lower ratio shows a superset of a higher one', () => {
    const order = cellOrder(2, 16);
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(cellOrder(2, 16)).toEqual(order);
    expect(cellOrder(3, 16)).not.toEqual(order);
    const ratios = [0, 0.25, 0.4, 0.6, 0.8, 0.9];
    const masks = ratios.map((r) => nestedMasks(4, r, 5));
    masks.forEach((mask, m) => {
      for (let b = 0; b < 5; b++) {
        const cells = mask.subarray(b * 16, (b + 1) * 16);
        expect(cells.reduce((a, v) => a + v, 0)).toBe(lenKeep(4, 4, ratios[m]));
        // Visible cells are exactly the first len_keep of the image's order.
        const first = cellOrder(b, 16).subarray(0, lenKeep(4, 4, ratios[m]));
        for (const cell of first) expect(cells[cell]).toBe(1);
      }
      if (m > 0) for (let i = 0; i < mask.length; i++) if (mask[i]) expect(masks[m - 1][i]).toBe(1);
    });
    expect(() => nestedMasks(4, 0.99, 1)).toThrow(/keeps no cell visible/);
  });
});

describe('the lab on the worker (real trainer and model, 8-px model)', () => {
  it('evaluates the watch set on nested masks, the yardstick at 0.6 whatever the run trains, any hand-edited mask and a page picture', async () => {
    const worker = new TrainerWorker(host);
    await worker.configure(RUN);
    const watch = await worker.evaluateWatch({
      offset: 1,
      count: 3,
      ratios: [0.25, 0.75],
      yardstickImages: 4,
    });
    expect(watch.views.map((v) => v.visibleCells)).toEqual([12, 4]);
    expect(watch.views[0].mask).toEqual(nestedMasks(4, 0.25, 3, 1));
    const dataset = randomDataset(8);
    expect(watch.input).toEqual(heldOutSlice(dataset, 1, 3));
    // The composite keeps the input's pixels wherever a cell is visible (2×2 pixels per cell).
    const view = watch.views[1];
    for (let b = 0; b < 3; b++)
      for (let y = 0; y < 8; y++)
        for (let x = 0; x < 8; x++) {
          if (!view.mask[b * 16 + Math.floor(y / 2) * 4 + Math.floor(x / 2)]) continue;
          const i = b * 192 + y * 8 + x;
          expect(view.composite[i]).toBeCloseTo(watch.input[i], 5);
        }
    expect(Number.isFinite(watch.heldOutLoss)).toBe(true);

    // The same initial weights (same seed) trained with the raw target and the loss on every patch: the
    // yardstick still measures the per-patch-normalised masked loss at 0.6, so it is the same number.
    const other = new TrainerWorker(host);
    await other.configure({
      ...RUN,
      model: { ...RUN.model, lossTarget: 'raw', lossOn: 'all', maskRatio: 0.25 },
    });
    const yardstick = await other.evaluateWatch({ offset: 0, count: 1, ratios: [], yardstickImages: 4 });
    expect(yardstick.heldOutLoss).toBeCloseTo(watch.heldOutLoss as number, 5);
    expect(YARDSTICK_RATIO).toBe(0.6);

    // Hand-edited masks: from one visible cell to all of them; none is refused with a sentence.
    await worker.step(1);
    const one = new Uint8Array(16);
    one[5] = 1;
    const single = await worker.reconstructCustom({ image: 0, cells: one });
    expect(single).toMatchObject({ visibleCells: 1, step: 1, grid: 4 });
    expect(single.composite).toHaveLength(192);
    const all = await worker.reconstructCustom({ image: 0, cells: new Uint8Array(16).fill(1) });
    // Everything visible: the composite is the input.
    for (let i = 0; i < 192; i++) expect(all.composite[i]).toBeCloseTo(all.input[i], 5);
    expect(single.composite).not.toEqual(all.composite);
    await expect(worker.reconstructCustom({ image: 0, cells: new Uint8Array(16) })).rejects.toThrow(
      /Keep at least one cell visible/,
    );
    await expect(worker.reconstructCustom({ image: 0, cells: new Uint8Array(9) })).rejects.toThrow(
      /grid is 4×4/,
    );

    // A picture from the page (the webcam's frame) as RGB bytes, under watch-set image 0's nested mask.
    const rgb = Uint8Array.from({ length: 8 * 8 * 3 }, (_, i) => (i * 37) % 256);
    const frame = await worker.reconstructImage({ rgb });
    expect(frame).toMatchObject({ ratio: 0.5, visibleCells: 8, step: 1, grid: 4 });
    expect(frame.mask).toEqual(nestedMasks(4, 0.5, 1, 0));
    const { mean, std } = dataset.normalization;
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < 64; p++) {
        const normalised = (rgb[p * 3 + c] / 255 - mean[c]) / std[c];
        expect(frame.input[c * 64 + p]).toBeCloseTo(normalised, 5);
        // Visible cells keep the picture's own pixels; hidden ones are the model's.
        if (frame.mask[Math.floor(p / 16) * 4 + Math.floor((p % 8) / 2)])
          expect(frame.composite[c * 64 + p]).toBeCloseTo(normalised, 5);
      }
    const hidden = await worker.reconstructImage({ rgb, ratio: 0.75 });
    expect(hidden.visibleCells).toBe(4);
    expect(hidden.composite).not.toEqual(frame.composite);
    await expect(worker.reconstructImage({ rgb: new Uint8Array(10) })).rejects.toThrow(/takes 8×8 RGB/);
    await expect(worker.reconstructImage({ rgb, ratio: 1 })).rejects.toThrow(/below 1/);
  }, 120_000);
});
