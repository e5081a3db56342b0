import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  decoderBlockCount,
  decoderChannels,
  featureChannels,
  featureStrides,
  gridSize,
  parseFixtureConfig,
  type ResNetConfig,
  SPARK_DEFAULTS,
  type SparkConfig,
  totalStride,
  validateSparkConfig,
} from './config';

const resnet = (over: Partial<ResNetConfig> = {}): ResNetConfig => ({
  family: 'resnet',
  block: 'basic',
  stemWidth: 8,
  stemKernel: 3,
  stemStride: 1,
  maxpool: false,
  widths: [8, 16, 32],
  depths: [1, 1, 1],
  stageStrides: [2, 2, 2],
  ...over,
});

const spark = (over: Partial<SparkConfig> = {}): SparkConfig => ({
  inputSize: 32,
  maskRatio: 0.6,
  decoderWidth: 32,
  backbone: resnet(),
  densifyNorm: 'bn',
  ...SPARK_DEFAULTS,
  ...over,
});

describe('model configs', () => {
  it('derives strides, channels, grid and decoder shape (ResNet stride 8 on 32 px)', () => {
    const c = validateSparkConfig(spark());
    expect(featureStrides(c.backbone)).toEqual([2, 4, 8]);
    expect(totalStride(c.backbone)).toBe(8);
    expect(gridSize(c)).toBe(4);
    expect(decoderBlockCount(c)).toBe(3);
    expect(decoderChannels(c)).toEqual([32, 16, 8, 4]);
  });

  it('decoder channels follow the official floor rule width // 2**i; any width with a channel left is valid', () => {
    // The held-out official configuration that used to be refused: width 48 at total stride 32.
    const held = validateSparkConfig(
      spark({ inputSize: 64, decoderWidth: 48, backbone: resnet({ stemStride: 2, maxpool: true }) }),
    );
    expect(totalStride(held.backbone)).toBe(32);
    expect(decoderChannels(held)).toEqual([48, 24, 12, 6, 3, 1]);
    expect(decoderChannels(validateSparkConfig(spark({ decoderWidth: 13 })))).toEqual([13, 6, 3, 1]);
    expect(decoderChannels(validateSparkConfig(spark({ decoderWidth: 8 })))).toEqual([8, 4, 2, 1]);
    // Total strides beyond 64 are powers of two like any other (the official decoder only asserts that).
    const deep = resnet({
      widths: [2, 2, 2, 2, 2, 2, 2],
      depths: [1, 1, 1, 1, 1, 1, 1],
      stageStrides: [2, 2, 2, 2, 2, 2, 2],
    });
    expect(
      totalStride(validateSparkConfig(spark({ inputSize: 256, decoderWidth: 128, backbone: deep })).backbone),
    ).toBe(128);
  });

  it('supports total strides 4, 8, 16 and 32 through stem, maxpool and stage strides', () => {
    const cases: [Partial<ResNetConfig>, number][] = [
      [{ stemStride: 1, stageStrides: [2, 2], widths: [8, 8], depths: [1, 1] }, 4],
      [{ stemStride: 2, maxpool: true, stageStrides: [1, 2, 2] }, 16],
      [
        {
          stemStride: 2,
          maxpool: true,
          stageStrides: [1, 2, 2, 2],
          widths: [8, 8, 8, 8],
          depths: [1, 1, 1, 1],
        },
        32,
      ],
    ];
    for (const [over, stride] of cases) expect(totalStride(resnet(over))).toBe(stride);
    expect(featureChannels(resnet({ block: 'bottleneck' }))).toEqual([32, 64, 128]);
    expect(featureStrides({ family: 'convnext', dims: [8, 16, 24, 32], depths: [1, 1, 1, 1] })).toEqual([
      4, 8, 16, 32,
    ]);
  });

  const invalid: [string, Partial<SparkConfig>, RegExp][] = [
    [
      'an image not divisible by the stride',
      { inputSize: 36 },
      /36 is not divisible by the encoder's total stride 8/,
    ],
    ['a 1×1 grid keeping no cell', { inputSize: 8 }, /grid is 1×1.*keeps no cell visible/],
    ['a mask ratio of 1', { maskRatio: 1 }, /mask ratio must be in \[0, 1\)/],
    [
      'a decoder width whose deepest block would have no channel',
      { decoderWidth: 7 },
      /width 7 is too small for its 3 blocks.*at least 8/,
    ],
    [
      'a total stride of 1 (the official LightDecoder would have no block)',
      { inputSize: 8, backbone: resnet({ stemStride: 1, stageStrides: [1], widths: [4], depths: [1] }) },
      /power of two of at least 2, got 1/,
    ],
    [
      'a later stage with stride 1',
      { backbone: resnet({ stageStrides: [2, 1, 2] }) },
      /stage 2 stride must be 2/,
    ],
    ['stage lists of different lengths', { backbone: resnet({ depths: [1, 1] }) }, /same length/],
    ['an even stem kernel', { backbone: resnet({ stemKernel: 4 }) }, /stem kernel must be odd/],
    [
      'an empty ConvNeXt',
      { backbone: { family: 'convnext', dims: [], depths: [] }, densifyNorm: 'ln' },
      /dims is empty/,
    ],
    ['an unknown encoder mode', { encoder: 'zero' as never }, /'sparse', 'dense-masked' or 'dense-zero'/],
  ];
  for (const [what, over, message] of invalid) {
    it(`rejects ${what} with a sentence`, () => {
      expect(() => validateSparkConfig(spark(over))).toThrow(ConfigError);
      expect(() => validateSparkConfig(spark(over))).toThrow(message);
    });
  }

  it('parses a fixture config, inferring ConvNeXt dims when the JSON leaves them empty', () => {
    const resnetJson =
      '{"seed": 3, "input_size": 64, "batch": 2, "mask_ratio": 0.75, "decoder_width": 48, "lamb": {"lr": 0.002, "weight_decay": 0.04, "betas": [0.9, 0.95], "max_grad_norm": 5.0}, "backbone": {"family": "resnet", "block": "bottleneck", "widths": [4, 8, 8, 16], "depths": [1, 1, 2, 1], "stage_strides": [1, 2, 2, 2], "stem_kernel": 7, "stem_stride": 2, "maxpool": false, "stem_width": 8}}';
    const r = parseFixtureConfig(resnetJson);
    expect(r.batch).toBe(2);
    expect(r.lamb).toEqual({ lr: 0.002, weightDecay: 0.04, betas: [0.9, 0.95], maxGradNorm: 5, eps: 1e-6 });
    expect(r.spark.densifyNorm).toBe('bn');
    expect(totalStride(r.spark.backbone)).toBe(16);
    const cnx = parseFixtureConfig(
      '{"input_size": 128, "batch": 2, "mask_ratio": 0.6, "decoder_width": 64, "lamb": {"lr": 0.002, "weight_decay": 0.04, "betas": [0.9, 0.999], "max_grad_norm": 5.0}, "backbone": {"family": "convnext", "dims": [], "depths": [1, 1, 2, 1]}}',
      () => [8, 16, 24, 32],
    );
    expect(cnx.spark.backbone).toEqual({ family: 'convnext', dims: [8, 16, 24, 32], depths: [1, 1, 2, 1] });
    expect(cnx.spark.densifyNorm).toBe('ln');
    expect(() => parseFixtureConfig('{"backbone": {"family": "vit"}}')).toThrow(/not 'resnet' or 'convnext'/);
    expect(() => parseFixtureConfig('{')).toThrow(/not valid JSON/);
  });
});
