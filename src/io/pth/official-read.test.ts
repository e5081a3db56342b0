import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SPARK_DEFAULTS, type SparkConfig, validateSparkConfig } from '../../models/config';
import { officialInitialState } from '../../models/init';
import { sparkState } from '../../models/official-names';
import { preset } from '../../models/presets';
import type { TrainerCheckpoint } from '../../train/checkpoint';
import { PthError } from './errors';
import { officialCheckpoint, officialEncoderCheckpoint } from './official';
import { readOfficial } from './official-read';
import { openPth, readPthBytes } from './read';
import { bytesSource } from './source';
import { writePth } from './write';
import { concatChunks } from './zip-write';

const FIXTURES = join(__dirname, '../../../tests/fixtures/pth');
const open = async (bytes: Uint8Array, name = 'x.pth') => openPth(bytesSource(bytes, name));

function trainerCheckpoint(
  config: SparkConfig,
  optimizer: 'lamb' | 'adamw',
  step: number,
): TrainerCheckpoint {
  const state = officialInitialState(config, 3);
  const params = sparkState(config).filter((e) => e.kind === 'param');
  // Moments with a recognisable pattern per tensor, so that a mix-up of parameter ids shows.
  const moment = (scale: number) =>
    new Map(
      params.map((e, i) => [
        e.name,
        (state.get(e.name) as Float32Array).map((_, k) => scale * (i + 1) + k * 1e-6),
      ]),
    );
  return {
    config,
    progress: {
      runId: 'r',
      step,
      totalSteps: 2 * step,
      seed: 3,
      batch: 4,
      hyper: {
        optimizer,
        peakLr: 0.01,
        warmupSteps: 2,
        weightDecayStart: 0.04,
        weightDecayEnd: 0.2,
        beta1: 0.9,
        beta2: 0.99,
        maxGradNorm: 5,
      },
      dataRngState: 1,
      maskRngState: 2,
      optimizerSteps: { decay: step, noDecay: step },
    },
    state,
    expAvg: moment(1e-3),
    expAvgSq: moment(1e-5),
  };
}

const custom = (backbone: SparkConfig['backbone'], o: Partial<SparkConfig>): SparkConfig =>
  validateSparkConfig({
    ...SPARK_DEFAULTS,
    maskRatio: 0.6,
    inputSize: 32,
    decoderWidth: 16,
    densifyNorm: backbone.family === 'resnet' ? 'bn' : 'ln',
    backbone,
    ...o,
  });

describe('opening official-layout checkpoints', () => {
  it.each([
    [
      'a basic ResNet with a stride-1 stem (not a preset)',
      custom(
        {
          family: 'resnet',
          block: 'basic',
          stemWidth: 8,
          stemKernel: 3,
          stemStride: 1,
          maxpool: false,
          widths: [8, 16, 32],
          depths: [2, 1, 1],
          stageStrides: [2, 2, 2],
        },
        {},
      ),
    ],
    [
      'a bottleneck ResNet with the 7×7/s2 stem and max-pool',
      custom(
        {
          family: 'resnet',
          block: 'bottleneck',
          stemWidth: 16,
          stemKernel: 7,
          stemStride: 2,
          maxpool: true,
          widths: [4, 8, 16, 32],
          depths: [1, 2, 1, 1],
          stageStrides: [1, 2, 2, 2],
        },
        { inputSize: 64, decoderWidth: 64 },
      ),
    ],
    [
      'a small ConvNeXt',
      custom(
        { family: 'convnext', dims: [8, 16, 32, 64], depths: [1, 1, 2, 1] },
        { inputSize: 64, decoderWidth: 32 },
      ),
    ],
  ])('infers %s and reads weights, moments and steps back exactly', async (_, config) => {
    const source = trainerCheckpoint(config, 'lamb', 7);
    const bytes = concatChunks(writePth(officialCheckpoint(source, { sbn: true, epoch: 2 })));
    const imported = await readOfficial(await open(bytes));
    expect(imported.kind).toBe('official');
    expect(imported.config).toEqual(config);
    expect(imported.warnings.join(' ')).toMatch(/inferred from the tensor names/);
    expect(imported.epoch).toBe(2);
    for (const [name, value] of source.state) expect(imported.state.get(name), name).toEqual(value);
    expect(imported.optimizer?.name).toBe('lamb');
    expect(imported.optimizer?.steps).toEqual({ decay: 7, noDecay: 7 });
    expect(imported.optimizer?.betas).toEqual([0.9, 0.99]);
    for (const [name, value] of source.expAvg)
      expect(imported.optimizer?.expAvg.get(name), name).toEqual(value);
    for (const [name, value] of source.expAvgSq)
      expect(imported.optimizer?.expAvgSq.get(name), name).toEqual(value);
  });

  it('reads AdamW state (per-parameter tensor step) written by torch 1.13', async () => {
    const imported = await readOfficial(
      await open(new Uint8Array(readFileSync(join(FIXTURES, 'official-tiny-adamw.pth')))),
    );
    expect(imported.config).toEqual(preset('tiny'));
    expect(imported.optimizer?.name).toBe('adamw');
    expect(imported.optimizer?.steps).toEqual({ decay: 40, noDecay: 40 });
    expect(imported.optimizer?.betas).toEqual([0.9, 0.999]);
  });

  it('reads a flat state dict and a timm-style encoder (decoder left out)', async () => {
    const flat = await readOfficial(
      await open(new Uint8Array(readFileSync(join(FIXTURES, 'flat-tiny.pth')))),
    );
    expect(flat.kind).toBe('flat');
    expect(flat.optimizer).toBeUndefined();
    expect(flat.config).toEqual(preset('tiny'));
    const encoder = await readOfficial(
      await open(new Uint8Array(readFileSync(join(FIXTURES, 'encoder-timm-tiny.pth')))),
      {
        inputSize: 32,
      },
    );
    expect(encoder.kind).toBe('encoder');
    expect(encoder.config.backbone).toEqual(preset('tiny').backbone);
    expect([...encoder.state.keys()].every((k) => k.startsWith('sparse_encoder.sp_cnn.'))).toBe(true);
    expect(encoder.state.get('sparse_encoder.sp_cnn.conv1.weight')).toEqual(
      flat.state.get('sparse_encoder.sp_cnn.conv1.weight'),
    );
  });

  it('round-trips an encoder-only export of an inferred architecture', async () => {
    const config = custom(
      { family: 'convnext', dims: [8, 16, 32, 64], depths: [1, 1, 2, 1] },
      { inputSize: 64, decoderWidth: 768 },
    );
    const state = officialInitialState(config, 1);
    const bytes = concatChunks(writePth(officialEncoderCheckpoint(config, state)));
    const imported = await readOfficial(await open(bytes), { inputSize: 64 });
    expect(imported.config.backbone).toEqual(config.backbone);
    expect(imported.state.get('sparse_encoder.sp_cnn.stages.2.1.gamma')).toEqual(
      state.get('sparse_encoder.sp_cnn.stages.2.1.gamma'),
    );
  });

  it('refuses a file that does not fit a given configuration, and a file with no model', async () => {
    const bytes = new Uint8Array(readFileSync(join(FIXTURES, 'official-tiny-lamb.pth')));
    await expect(
      readOfficial(await open(bytes, 'tiny.pth'), { config: preset('resnet-s8-32') }),
    ).rejects.toThrow(
      /^tiny\.pth lacks \d+ tensor\(s\) of the given configuration, e\.g\. sparse_encoder\.sp_cnn\.layer1\.1\.conv1\.weight/,
    );
    const wider = { ...preset('tiny'), decoderWidth: 64 };
    await expect(readOfficial(await open(bytes, 'tiny.pth'), { config: wider })).rejects.toThrow(
      /^tiny\.pth lacks 2 tensor\(s\) of the given configuration, e\.g\. densify_projs\.0\.weight, densify_projs\.0\.bias\.$/,
    );
    const tensors = await readPthBytes(
      new Uint8Array(readFileSync(join(FIXTURES, 'tensors.pth'))),
      'tensors.pth',
    );
    await expect(readOfficial(tensors)).rejects.toThrow(PthError);
  });
});
