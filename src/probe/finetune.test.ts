import { describe, expect, it, vi } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { quadrantSplit, smallEncoderConfig } from '../../tests/labelled-images';
import { officialInitialState } from '../models/init';
import { encoderState } from '../models/official-names';
import { preset } from '../models/presets';
import { finetune, finetuneLr, layerScaleTable } from './finetune';
import { encoderHash } from './hash';

// Whole encoders with their backward on SwiftShader: seconds idle, minutes on the shared, overloaded machine.
vi.setConfig({ testTimeout: 600_000 });

const P = 'sparse_encoder.sp_cnn.';

function exponents(name: Parameters<typeof preset>[0], names: string[]) {
  const table = layerScaleTable(
    preset(name),
    names.map((n) => P + n),
  );
  return names.map((n) => table.get(P + n)?.exponent);
}

describe('layer-wise lr decay', () => {
  it('ResNet-50: the official 8 layer ids (stem 0 … layer4 6, head 7), exponent 7 − id', () => {
    // downstream_imagenet/models/__init__.py: layer2 in groups of 2 blocks, layer3 in groups of 3.
    const names = [
      'conv1.weight',
      'bn1.bias',
      'layer1.2.conv3.weight',
      'layer2.0.conv1.weight',
      'layer2.1.bn2.weight',
      'layer2.2.conv1.weight',
      'layer2.3.downsample.0.weight',
      'layer3.0.conv1.weight',
      'layer3.2.bn3.bias',
      'layer3.3.conv1.weight',
      'layer3.5.conv2.weight',
      'layer4.0.conv1.weight',
      'layer4.2.bn3.weight',
    ];
    expect(exponents('resnet50-224', names)).toEqual([7, 7, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1]);
  });

  it('the tiny 3-stage ResNet: one id per stage, scales 0.7⁴ … 0.7 (head 1)', () => {
    const names = ['conv1.weight', 'layer1.0.conv1.weight', 'layer2.0.bn2.bias', 'layer3.0.conv2.weight'];
    const exps = exponents('tiny', names);
    expect(exps).toEqual([4, 3, 2, 1]);
    expect(exps.map((e) => 0.7 ** (e as number))).toEqual(
      [0.2401, 0.343, 0.49, 0.7].map((v) => expect.closeTo(v, 12)),
    );
  });

  it('ConvNeXt (depths 2,2,6,2): the official rule, N = 6', () => {
    const names = [
      'downsample_layers.0.0.weight',
      'stages.0.1.dwconv.weight',
      'downsample_layers.1.1.bias',
      'stages.1.0.pwconv1.weight',
      'downsample_layers.2.0.weight',
      'stages.2.2.pwconv2.weight',
      'stages.2.3.dwconv.bias',
      'downsample_layers.3.1.weight',
      'stages.3.1.gamma',
    ];
    expect(exponents('convnext-atto-128', names)).toEqual([7, 6, 5, 5, 4, 4, 3, 1, 1]);
  });

  it('covers every encoder tensor of every preset', () => {
    for (const name of ['tiny', 'resnet50-224', 'convnext-atto-128'] as const) {
      const config = preset(name);
      const names = encoderState(config)
        .filter((e) => e.kind === 'param')
        .map((e) => e.name);
      const table = layerScaleTable(config, names);
      for (const n of names) expect(table.get(n)?.exponent, n).toBeGreaterThanOrEqual(1);
    }
  });

  it('the official warm-up + cosine schedule', () => {
    // peak 1, warm-up 10 of 110 steps: 0.005 at 0, halfway up at 5, the peak at 10, 0.001 at the last step.
    expect(finetuneLr(1, 0, 10, 110)).toBeCloseTo(0.005, 12);
    expect(finetuneLr(1, 5, 10, 110)).toBeCloseTo(0.5025, 12);
    expect(finetuneLr(1, 10, 10, 110)).toBeCloseTo(1, 12);
    expect(finetuneLr(1, 59.5, 10, 110)).toBeCloseTo(0.5005, 12);
    expect(finetuneLr(1, 109, 10, 110)).toBeCloseTo(0.001, 12);
  });
});

it('fine-tunes encoder + head to high accuracy on separable images; same seed, same weights', async () => {
  const gpu = await testGpu();
  const config = smallEncoderConfig();
  const initial = officialInitialState(config, 0);
  const train = quadrantSplit(48, 1, 16);
  const test = quadrantSplit(24, 2, 16);
  // A short, brisk run: this checks the machinery (forward, backward, per-group optimisers, eval with the
  // running statistics), not the recipe. AdamW: LAMB's trust ratios move a fresh head too slowly for 40 steps.
  const options = { classes: 4, seed: 0, steps: 40, batch: 8, lr: 0.02, optimizer: 'adamw' as const };
  const batches: { step: number; loss: number; accuracy: number }[] = [];
  const first = await finetune(gpu, config, initial, train, test, {
    ...options,
    onStep: (step, _steps, batch) => {
      if (batch) batches.push({ step, ...batch });
    },
  });
  expect(first.accuracy).toBeGreaterThanOrEqual(0.95);
  // Every 10th step reports its training batch; the loss falls from about ln 4 = 1.39.
  expect(batches.map((b) => b.step)).toEqual([10, 20, 30, 40]);
  expect(batches[3].loss).toBeLessThan(batches[0].loss);
  expect(batches[3].loss).toBeLessThan(0.5);
  // Predictions per class: every test image counted once, no class collapse.
  expect(first.predicted.reduce((a, b) => a + b, 0)).toBe(test.count);
  expect(first.predicted.filter((n) => n > 0)).toHaveLength(4);
  expect(Number.isFinite(first.testLoss)).toBe(true);
  // The encoder itself moved (not only the head).
  expect(first.stateHash).not.toBe(encoderHash(config, initial));
  const again = await finetune(gpu, config, initial, train, test, options);
  expect(again).toEqual(first);
});
