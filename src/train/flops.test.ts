import { describe, expect, it } from 'vitest';
import type { SparkConfig } from '../models/config';
import { preset } from '../models/presets';
import { countFlops, largestActivationFloats, sparkParameterCount } from './flops';
import { microConfig } from './trainer-test-utils';

describe('FLOP counter', () => {
  it('8-px micro model: every layer counted by hand', () => {
    // Encoder: stem 3→4 3×3 at 8×8, basic block 4→4 at 4×4 (two 3×3 convs + 1×1 stride-2 shortcut).
    const encoder = 2 * 64 * 9 * 3 * 4 + 2 * (2 * 16 * 9 * 4 * 4) + 2 * 16 * 4 * 4;
    // Densify 1×1 4→8 at 4×4; one decoder block at 8×8: ConvT (2×2 taps per output) 8→8, 3×3 8→8, 3×3 8→4;
    // 1×1 projection 4→3.
    const decoder =
      2 * 16 * 4 * 8 + 2 * 64 * 4 * 8 * 8 + 2 * 64 * 9 * 8 * 8 + 2 * 64 * 9 * 8 * 4 + 2 * 64 * 4 * 3;
    const f = countFlops(microConfig());
    expect(f.encoderDense).toBe(encoder);
    expect(f.decoder).toBe(decoder);
    expect(f.visibleFraction).toBe(0.5);
    expect(f.encoderMasked).toBe(encoder / 2);
    expect(f.dense).toBe(encoder + decoder);
    expect(f.masked).toBe(encoder / 2 + decoder);
  });

  it('matches the published encoder figures: ResNet-50 4.09 GMACs, ConvNeXt-S 8.7 GMACs, ResNet-18 1.82 GMACs', () => {
    expect(countFlops(preset('resnet50-224')).encoderDense / 2 / 4.09e9).toBeCloseTo(1, 2);
    expect(countFlops(preset('convnext-s-224')).encoderDense / 2 / 8.7e9).toBeCloseTo(1, 2);
    const r18: SparkConfig = { ...preset('resnet18-128'), inputSize: 224, decoderWidth: 512 };
    expect(countFlops(r18).encoderDense / 2 / 1.82e9).toBeCloseTo(1, 2);
  });

  it('the dense-zero ablation computes the encoder everywhere; parameters and activations are counted', () => {
    const config = { ...microConfig(), encoder: 'dense-zero' } as SparkConfig;
    const f = countFlops(config);
    expect(f.encoderMasked).toBe(f.encoderDense);
    expect(sparkParameterCount(preset('resnet18-128'))).toBeGreaterThan(11_176_512);
    // Micro model, batch 2: the largest tensor is the decoder's 8×8×8 upsampled map (512 floats per image).
    expect(largestActivationFloats(microConfig(), 2)).toBe(2 * 512);
  });
});
