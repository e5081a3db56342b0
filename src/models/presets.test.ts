import { describe, expect, it } from 'vitest';
import { decoderBlockCount, featureChannels, featureStrides, gridSize } from './config';
import { encoderState, parameterCount } from './official-names';
import { PRESET_TRAINING, PRESETS, type PresetName, preset } from './presets';

describe('presets', () => {
  const expectations: Record<PresetName, { features: [number, number][]; grid: number; blocks: number }> = {
    tiny: {
      features: [
        [8, 16],
        [16, 8],
        [32, 4],
      ],
      grid: 4,
      blocks: 3,
    },
    'resnet18-128': {
      features: [
        [64, 32],
        [128, 16],
        [256, 8],
        [512, 4],
      ],
      grid: 4,
      blocks: 5,
    },
    'resnet50-224': {
      features: [
        [256, 56],
        [512, 28],
        [1024, 14],
        [2048, 7],
      ],
      grid: 7,
      blocks: 5,
    },
    'convnext-s-224': {
      features: [
        [96, 56],
        [192, 28],
        [384, 14],
        [768, 7],
      ],
      grid: 7,
      blocks: 5,
    },
    'resnet-s8-32': {
      features: [
        [32, 16],
        [64, 8],
        [128, 4],
      ],
      grid: 4,
      blocks: 3,
    },
    'resnet-s16-64': {
      features: [
        [32, 32],
        [64, 16],
        [128, 8],
        [256, 4],
      ],
      grid: 4,
      blocks: 4,
    },
    'convnext-atto-128': {
      features: [
        [40, 32],
        [80, 16],
        [160, 8],
        [320, 4],
      ],
      grid: 4,
      blocks: 5,
    },
  };
  for (const name of Object.keys(PRESETS) as PresetName[]) {
    it(`${name}: feature maps (channels × side), grid and decoder blocks`, () => {
      const c = preset(name);
      const sides = featureStrides(c.backbone).map((s) => c.inputSize / s);
      const channels = featureChannels(c.backbone);
      expect(channels.map((ch, i) => [ch, sides[i]])).toEqual(expectations[name].features);
      expect(gridSize(c)).toBe(expectations[name].grid);
      expect(decoderBlockCount(c)).toBe(expectations[name].blocks);
    });
  }

  it('returns copies that callers can edit', () => {
    const a = preset('resnet-s8-32');
    a.decoderWidth = 64;
    expect(preset('resnet-s8-32').decoderWidth).toBe(128);
    expect(parameterCount(encoderState(preset('resnet50-224')))).toBe(23_508_032);
  });

  it('resnet18-128 has exactly the encoder of torchvision ResNet-18 without its classifier (11,176,512)', () => {
    expect(parameterCount(encoderState(preset('resnet18-128')))).toBe(11_176_512);
  });

  it('every preset has training defaults with a batch BatchNorm can use', () => {
    for (const name of Object.keys(PRESETS) as PresetName[]) {
      const t = PRESET_TRAINING[name];
      expect(t.batch).toBeGreaterThanOrEqual(2);
      expect(t.lr).toBeGreaterThan(0);
      expect(t.steps).toBeGreaterThan(0);
    }
  });
});
