/**
 * Dispatch counting: the runtime counts every prepared dispatch it encodes, and the trainer reports a step's
 * count on its metrics. Checked against an independent count: the same model's forward and backward
 * recorded into a pass wrapper that counts dispatchWorkgroups calls, plus the optimiser's and the guard's.
 */
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { createSparkModel } from '../models/spark-model';
import { randomMask } from '../sparse/mask';
import { Trainer } from './trainer';
import { microConfig, randomDataset } from './trainer-test-utils';

/** A pass that only counts the dispatches recorded into it. */
function countingPass(): { pass: GPUComputePassEncoder; count: () => number } {
  let n = 0;
  const pass = {
    setPipeline() {},
    setBindGroup() {},
    dispatchWorkgroups() {
      n++;
    },
  } as unknown as GPUComputePassEncoder;
  return { pass, count: () => n };
}

describe('dispatch counting', () => {
  it('counts what is encoded, and the trainer reports the same count for every step', async () => {
    const gpu = await testGpu();
    const config = microConfig();
    const model = createSparkModel(gpu, config, 2);
    const { pass, count } = countingPass();
    const before = gpu.dispatchCount;
    try {
      model.setBatch(new Float32Array(2 * 3 * 8 * 8), randomMask(2, 4, 4, 0.5, 1));
      model.encodeTrainForward(pass);
      model.encodeTrainBackward(pass);
    } finally {
      model.destroy();
    }
    const modelDispatches = count();
    expect(modelDispatches).toBeGreaterThan(20);
    expect(gpu.dispatchCount - before).toBe(modelDispatches);

    const seen: number[] = [];
    const trainer = await Trainer.create(gpu, {
      config,
      batch: 2,
      totalSteps: 3,
      seed: 0,
      dataset: randomDataset(8),
      metricsEvery: 1,
      checkpointEvery: 0,
      onEvent: (e) => {
        if (e.type === 'metrics' && e.metrics.dispatches !== undefined) seen.push(e.metrics.dispatches);
      },
    });
    try {
      await trainer.run(3);
      expect(seen.length).toBe(3);
      // Forward + backward of the same model, plus the optimiser's and the NaN guard's (a handful).
      expect(seen[0]).toBeGreaterThan(modelDispatches);
      expect(seen[0]).toBeLessThan(modelDispatches + 40);
      expect(new Set(seen).size).toBe(1);
    } finally {
      trainer.destroy();
    }
  });
});
