/**
 * The fused training step (BatchNorm + ReLU (+ residual) in one pass, gated BatchNorm backward, accumulated
 * fan-in gradients, LAMB in four dispatches, the guard in two) repeats bit for bit: two trainers of the same
 * seed end every step in identical state on one adapter (links in the page replay a run from its seed).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import type { Gpu } from '../gpu/runtime';
import type { SparkConfig } from '../models/config';
import { PRESETS } from '../models/presets';
import { Trainer } from './trainer';
import { expectSameState, microConfig, options, randomDataset } from './trainer-test-utils';

const created: Trainer[] = [];
afterAll(() => {
  for (const t of created) t.destroy();
});

/** The kernel labels of one training step, in encoding order. */
async function stepLabels(gpu: Gpu, trainer: Trainer): Promise<string[]> {
  const labels: string[] = [];
  gpu.onDispatch = (dispatch) => labels.push(dispatch.label);
  try {
    await trainer.run(1);
  } finally {
    gpu.onDispatch = undefined;
  }
  return labels;
}

async function twoRuns(gpu: Gpu, config: SparkConfig, size: number): Promise<string[]> {
  const make = async () => {
    const trainer = await Trainer.create(gpu, options({ config, dataset: randomDataset(size), seed: 7 }));
    created.push(trainer);
    return trainer;
  };
  const a = await make();
  const b = await make();
  await a.run(2);
  await b.run(2);
  const labels = await stepLabels(gpu, a);
  await b.run(1);
  expectSameState(await a.capture(), await b.capture());
  expect(a.lastMetrics!.loss).toBe(b.lastMetrics!.loss);
  expect(Number.isFinite(a.lastMetrics!.loss)).toBe(true);
  return labels;
}

const count = (labels: string[], prefix: string) => labels.filter((l) => l.startsWith(prefix)).length;

describe('fused training step', () => {
  it('tiny (16 px, batch 2): same seed, same bits after 3 steps; every BatchNorm fused, no elementwise pass', async () => {
    const gpu = await testGpu();
    const labels = await twoRuns(gpu, { ...PRESETS.tiny, inputSize: 16 }, 16);
    // 19 BatchNorms (10 encoder, 3 densify, 6 decoder), one dispatch each way at these sizes.
    expect(count(labels, 'batchnorm_fused.single_forward')).toBe(19);
    expect(count(labels, 'batchnorm_fused.single_backward')).toBe(19);
    expect(count(labels, 'batchnorm_fused.')).toBe(38); // and no chunked BatchNorm dispatch
    // ReLUs, residual and skip adds, ReLU backwards and fan-in sums are all inside other kernels.
    expect(count(labels, 'eltwise.')).toBe(0);
    expect(count(labels, 'optim.')).toBe(4);
    expect(count(labels, 'guard.')).toBe(2);
    expect(labels.length).toBeLessThanOrEqual(170);
  });

  it('an identity shortcut (two blocks): its gated gradient is summed with the next conv input gradient', async () => {
    const gpu = await testGpu();
    const base = microConfig();
    if (base.backbone.family !== 'resnet') throw new Error('microConfig is a ResNet');
    const labels = await twoRuns(gpu, { ...base, backbone: { ...base.backbone, depths: [2] } }, 8);
    // The second block's shortcut is the first block's output: its share of the gradient passes the ReLU gate
    // in one elementwise pass and is added to the second block's conv1 input gradient in another.
    expect(count(labels, 'eltwise.relu_backward')).toBe(1);
    expect(count(labels, 'eltwise.add')).toBe(1);
  });
});
