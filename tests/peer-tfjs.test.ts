/**
 * The TF.js peer computes the official algorithm: its first-step loss on SparkLab's initial weights, batch and
 * mask equals SparkLab `sparse`'s (computed by SparkLab's kernels on Dawn; TF.js runs on its CPU backend here,
 * on WebGPU in the page), and so do its gradients. A wrong re-mask, BN statistic, densify step, decoder layer or
 * loss normalisation
 * changes the gradients by far more than their bound; the loss after a LAMB step must go down.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  gradientDifference,
  LOSS_TOLERANCE,
  relativeDifference,
  sparkLabCase,
} from '../bench/peer-tfjs/case';
import { TfjsSparkModel } from '../bench/peer-tfjs/model';
import type { SparkConfig } from '../src/models/config';
import { PRESETS } from '../src/models/presets';
import { testGpu } from './gpu';

/** A ConvNeXt small enough for the CPU backend: two stages, stride 8, 32 px. */
const convnextSmall: SparkConfig = {
  ...PRESETS['convnext-atto-128'],
  inputSize: 32,
  decoderWidth: 32,
  backbone: { family: 'convnext', dims: [8, 16], depths: [1, 2] },
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('TF.js SparK peer', () => {
  it.each([
    ['tiny', PRESETS.tiny as SparkConfig],
    ['a small ConvNeXt', convnextSmall],
  ])('first-step loss of %s equals SparkLab sparse', async (_, config) => {
    const gpu = await testGpu();
    const peerCase = await sparkLabCase(gpu, config, 2, 3);
    const model = new TfjsSparkModel(peerCase.config, peerCase.state);
    try {
      const { loss, grads } = await model.lossAndGrads(peerCase.images, peerCase.mask.cells);
      expect(Number.isFinite(peerCase.lossSparkLab)).toBe(true);
      expect(relativeDifference(loss, peerCase.lossSparkLab)).toBeLessThanOrEqual(LOSS_TOLERANCE);
      // Every parameter is reached by the backward (the official decoder reads every scale).
      expect(grads.size).toBe(model.params.size);
      // The loss at initialisation hardly depends on the encoder; the gradients of every tensor do.
      const { worst, name } = gradientDifference(grads, peerCase.gradsSparkLab);
      expect(worst, name).toBeLessThan(1e-2);
      const before = loss;
      const step = model.trainStep(peerCase.images, peerCase.mask.cells, {
        lr: 1e-2,
        weightDecay: 0.04,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-6,
        maxGradNorm: 5,
      });
      expect((await step.data())[0]).toBeCloseTo(before, 5);
      step.dispose();
      const after = (await model.lossAndGrads(peerCase.images, peerCase.mask.cells)).loss;
      expect(after).toBeLessThan(before);
    } finally {
      model.dispose();
    }
  });
});
