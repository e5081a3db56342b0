/**
 * One peer-benchmark case, shared by the page (bench/page) and the Node test: SparkLab's `sparse` model,
 * initialised as the official code initialises, gives its state (read back from the GPU), a batch of images
 * and a mask; its first training forward gives the loss the TF.js model must reproduce.
 */
import type { Gpu } from '../../src/gpu/runtime';
import type { SparkConfig } from '../../src/models/config';
import { gridSize } from '../../src/models/config';
import { createSparkModel } from '../../src/models/spark-model';
import { type CellMask, randomMask } from '../../src/sparse/mask';
import { Rng } from '../../src/util/random';

/** Relative loss difference above which a peer run is invalid (the bound). */
export const LOSS_TOLERANCE = 1e-3;

export interface PeerCase {
  config: SparkConfig;
  batch: number;
  /** Official-layout parameters and buffers of the freshly initialised SparkLab model. */
  state: Map<string, Float32Array>;
  /** NCHW [batch, 3, S, S], standard normal (the model's inputs are normalised images). */
  images: Float32Array;
  mask: CellMask;
  /** SparkLab `sparse`: the loss of the first training forward on this batch and mask. */
  lossSparkLab: number;
  /** SparkLab `sparse`: d loss / d parameter of that step, official layout. */
  gradsSparkLab: Map<string, Float32Array>;
}

/** Builds the case: a SparkLab model at `seed`, its state and first loss; the model is released after. */
export async function sparkLabCase(
  gpu: Gpu,
  config: SparkConfig,
  batch: number,
  seed = 0,
): Promise<PeerCase> {
  const sparse: SparkConfig = { ...config, encoder: 'sparse', dropPathRate: 0 }; // the TF.js peer has no drop path
  const g = gridSize(sparse);
  const images = new Rng(seed + 1).normals(batch * 3 * sparse.inputSize * sparse.inputSize);
  const mask = randomMask(batch, g, g, sparse.maskRatio, seed + 2);
  const model = createSparkModel(gpu, sparse, batch, { label: 'peer.sparklab' });
  try {
    model.initialize(seed);
    const state = await model.exportState();
    model.setBatch(images, mask);
    gpu.device.queue.writeBuffer(model.params.grads, 0, new Float32Array(model.params.size));
    await gpu.checked('peer first step', async () => {
      gpu.submit('peer.first-step', (pass) => model.encodeTrainStep(pass));
      await gpu.idle();
    });
    const [lossSparkLab] = await gpu.read(model.loss);
    const gradsSparkLab = await model.readGrads();
    return { config: sparse, batch, state, images, mask, lossSparkLab, gradsSparkLab };
  } finally {
    model.destroy();
  }
}

/**
 * The largest ‖g_tfjs − g_sparklab‖ / ‖g_sparklab‖ over the parameters with a non-zero SparkLab gradient:
 * the loss at initialisation is close to 1 whatever the encoder computes (the prediction is small next to the
 * normalised target), the gradients are not.
 */
export function gradientDifference(
  tfjs: ReadonlyMap<string, Float32Array>,
  sparkLab: ReadonlyMap<string, Float32Array>,
): { worst: number; name: string } {
  let worst = { worst: 0, name: '' };
  for (const [name, reference] of sparkLab) {
    let refSq = 0;
    let diffSq = 0;
    const other = tfjs.get(name);
    for (let i = 0; i < reference.length; i++) {
      refSq += reference[i] ** 2;
      diffSq += ((other?.[i] ?? 0) - reference[i]) ** 2;
    }
    if (refSq === 0) continue;
    const relative = Math.sqrt(diffSq / refSq);
    if (relative > worst.worst) worst = { worst: relative, name };
  }
  return worst;
}

/** |a − b| / |b|: how far the TF.js loss is from SparkLab's. */
export function relativeDifference(tfjs: number, sparkLab: number): number {
  return Math.abs(tfjs - sparkLab) / Math.max(Math.abs(sparkLab), 1e-12);
}
