/**
 * The GPU model as a parity backend (src/io/parity.ts), in the fixture README's order: eval forward on the
 * initial state, train forward + backward, then one LAMB step (helper: src/train/optim.ts) on the fixture's
 * gradients — like the CPU reference, so the LAMB stage tests the optimiser and not the conditioning of
 * g/(|g| + eps) on float32 gradient noise. Parameters the model never differentiates (PyTorch grad None)
 * are skipped by the LAMB step (the optimiser's `skip` option), as the official optimiser skips them.
 */

import { fromGpuLayout, toGpuLayout } from '../engine/layout';
import { Arena } from '../engine/params';
import type { Gpu } from '../gpu/runtime';
import type { ParityFixture } from '../io/fixtures';
import type { ParityBackend, ParityResults } from '../io/parity';
import { explicitMask } from '../sparse/mask';
import { Lamb } from '../train/optim';
import { type EncoderMode, totalStride } from './config';
import { createSparkModel } from './spark-model';

function zeroGrads(gpu: Gpu, arena: Arena): void {
  gpu.device.queue.writeBuffer(arena.grads, 0, new Float32Array(arena.size));
}

export async function runGpuOnFixture(
  gpu: Gpu,
  fixture: ParityFixture,
  options: {
    /** Build the model for this batch (≥ the fixture's) and run the fixture's smaller batch through it. */
    buildBatch?: number;
    /** Run this encoder instead of the fixture's (dense-masked computes the same numbers as sparse). */
    encoder?: EncoderMode;
  } = {},
): Promise<ParityResults> {
  const { batch, lamb } = fixture.config;
  const spark = options.encoder
    ? { ...fixture.config.spark, encoder: options.encoder }
    : fixture.config.spark;
  const built = Math.max(batch, options.buildBatch ?? batch);
  const model = createSparkModel(gpu, spark, built, { label: `parity.${fixture.fileName}` });
  try {
    const state = new Map<string, Float64Array>();
    for (const [name, t] of fixture.state) state.set(name, t.data);
    model.loadState(state);
    const grid = spark.inputSize / totalStride(spark.backbone);
    model.setBatch(Float32Array.from(fixture.input.data), explicitMask(batch, grid, grid, fixture.mask.data));

    await gpu.checked('parity.eval', async () => {
      gpu.submit('parity.eval', (pass) => model.encodeEval(pass));
      await gpu.idle();
    });
    const evaluation = await model.readSnapshot();

    zeroGrads(gpu, model.params);
    await gpu.checked('parity.train', async () => {
      gpu.submit('parity.train', (pass) => model.encodeTrainStep(pass));
      await gpu.idle();
    });
    const trained = await model.readSnapshot();
    const features = await model.readFeatures();
    const grads = await model.readGrads();
    const after = await model.exportState();
    const buffers = new Map<string, Float32Array>();
    for (const [name, v] of after) if (!model.params.has(name)) buffers.set(name, v);

    // LAMB on the fixture's gradients; the parameters without one (unusedParams) are skipped by the
    // optimiser itself, the same mechanism the trainer uses.
    const arena = new Arena('parity.lamb', true);
    for (const e of model.params.entries)
      arena.add(e.name, { officialShape: e.officialShape, layout: e.layout, decay: e.decay });
    arena.allocate(gpu);
    const values = new Float32Array(arena.size);
    const gradValues = new Float32Array(arena.size);
    for (const e of arena.entries) {
      const before = fixture.state.get(e.name)!.data;
      values.set(toGpuLayout(e.layout, e.officialShape, before), e.offset);
      if (model.unusedParams.has(e.name)) continue;
      const grad = fixture.expected.get(`train/grad/${e.name}`);
      if (!grad)
        throw new Error(
          `${fixture.fileName} has no expected/train/grad/${e.name} to run the LAMB step with.`,
        );
      gradValues.set(toGpuLayout(e.layout, e.officialShape, grad.data), e.offset);
    }
    gpu.device.queue.writeBuffer(arena.values, 0, values);
    gpu.device.queue.writeBuffer(arena.grads, 0, gradValues);
    const optimizer = new Lamb(gpu, arena, {
      beta1: lamb.betas[0],
      beta2: lamb.betas[1],
      eps: lamb.eps,
      maxGradNorm: lamb.maxGradNorm,
      skip: model.unusedParams,
    });
    const lambOut = new Map<string, Float32Array>();
    try {
      optimizer.beginStep(lamb.lr, lamb.weightDecay);
      await gpu.checked('parity.lamb', async () => {
        gpu.submit('parity.lamb', (pass) => optimizer.encode(pass));
        await gpu.idle();
      });
      const stepped = await gpu.read(arena.whole('values'));
      for (const e of arena.entries)
        lambOut.set(
          e.name,
          fromGpuLayout(e.layout, e.officialShape, stepped.subarray(e.offset, e.offset + e.length)),
        );
    } finally {
      optimizer.release();
      arena.release(gpu);
    }

    return {
      eval: { loss: evaluation.loss, masked: evaluation.masked, recOrInp: evaluation.composite },
      train: { loss: trained.loss, features, decoderOut: trained.prediction, buffers, grads },
      lamb: lambOut,
    };
  } finally {
    model.destroy();
  }
}

/** A backend that owns one device for all fixtures of a run. */
export function gpuParityBackend(gpu: Gpu): ParityBackend {
  return { name: `gpu (${gpu.label})`, run: (fixture) => runGpuOnFixture(gpu, fixture) };
}
