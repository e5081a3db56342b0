import { describe, expect, it } from 'vitest';
import { gpuShapeOf } from '../engine/layout';
import { type ConvNeXtConfig, type ResNetConfig, SPARK_DEFAULTS, type SparkConfig } from './config';
import { encoderState, parameterCount, sparkState, timmEncoderState, timmName } from './official-names';

const resnet50: ResNetConfig = {
  family: 'resnet',
  block: 'bottleneck',
  stemWidth: 64,
  stemKernel: 7,
  stemStride: 2,
  maxpool: true,
  widths: [64, 128, 256, 512],
  depths: [3, 4, 6, 3],
  stageStrides: [1, 2, 2, 2],
};
const resnet18: ResNetConfig = { ...resnet50, block: 'basic', depths: [2, 2, 2, 2] };
const convnextS: ConvNeXtConfig = { family: 'convnext', dims: [96, 192, 384, 768], depths: [3, 3, 27, 3] };
const convnextB: ConvNeXtConfig = { family: 'convnext', dims: [128, 256, 512, 1024], depths: [3, 3, 27, 3] };

const spark = (backbone: SparkConfig['backbone'], decoderWidth = 768): SparkConfig => ({
  inputSize: 224,
  maskRatio: 0.6,
  decoderWidth,
  backbone,
  densifyNorm: backbone.family === 'resnet' ? 'bn' : 'ln',
  ...SPARK_DEFAULTS,
});

const count = (entries: ReturnType<typeof sparkState>, prefix: string) =>
  parameterCount(entries.filter((e) => e.name.startsWith(prefix)));

/** Closed forms (spark-spec §3.2): UNet block cin→cout = ConvT 16cin²+cin, 3×3 convs 9cin² + 9cin·cout, BNs 2cin + 2cout. */
function decoderFormula(width: number, blocks: number): number {
  const ch = Array.from({ length: blocks + 1 }, (_, i) => width / 2 ** i);
  let n = 3 * ch[blocks] + 3;
  for (let i = 0; i < blocks; i++)
    n += 16 * ch[i] ** 2 + ch[i] + 9 * ch[i] ** 2 + 2 * ch[i] + 9 * ch[i] * ch[i + 1] + 2 * ch[i + 1];
  return n;
}

/** Per scale: norm 2e, mask token e, proj k²·e·d + d (identity when scale 0 and e = width). */
function densifyFormula(encoderWidthsLargeFirst: number[], width: number): number {
  return [...encoderWidthsLargeFirst].reverse().reduce((n, e, i) => {
    const d = width / 2 ** i;
    const k = i === 0 ? 1 : 3;
    return n + 3 * e + (i === 0 && e === width ? 0 : k * k * e * d + d);
  }, 0);
}

describe('official state names and parameter counts', () => {
  it('ResNet-50 / ResNet-18 encoders have timm’s parameter counts without the classifier', () => {
    // timm resnet50: 25,557,032 − fc 2,049,000; resnet18: 11,689,512 − fc 513,000.
    expect(parameterCount(encoderState(spark(resnet50)))).toBe(23_508_032);
    expect(parameterCount(encoderState(spark(resnet18)))).toBe(11_176_512);
  });

  it('ConvNeXt-S encoder has the official count without head norm and fc (50,223,688 − 770,536)', () => {
    expect(parameterCount(encoderState(spark(convnextS)))).toBe(49_453_152);
  });

  it('decoder and densify counts match the closed forms and the spec’s figures', () => {
    const r50 = sparkState(spark(resnet50));
    expect(count(r50, 'dense_decoder.')).toBe(decoderFormula(768, 5));
    expect(count(r50, 'dense_decoder.')).toBe(23_183_115); // spec: ≈23.18M
    const densify = count(r50, 'densify_') + count(r50, 'mask_tokens');
    expect(densify).toBe(densifyFormula([256, 512, 1024, 2048], 768));
    expect(densify).toBe(6_230_688); // spec: ≈6.23M
    // Width 512 (mmpretrain's setting): R50 + SparK head = 37.97M, as mmpretrain reports.
    expect(parameterCount(sparkState(spark(resnet50, 512)))).toBe(37_970_611);
    const cnxS = sparkState(spark(convnextS));
    expect(count(cnxS, 'densify_') + count(cnxS, 'mask_tokens')).toBe(
      densifyFormula([96, 192, 384, 768], 768),
    ); // ≈1.75M
    expect(cnxS.some((e) => e.name.startsWith('densify_projs.0.'))).toBe(false); // 768 = 768: identity
    const cnxB = sparkState(spark(convnextB));
    expect(count(cnxB, 'densify_') + count(cnxB, 'mask_tokens')).toBe(3_116_064); // ≈3.12M
  });

  it('every entry has a GPU layout that fits its official shape, and the official no-decay rule', () => {
    for (const e of sparkState(spark(resnet50, 64))) {
      const gpu = gpuShapeOf(e.layout, e.shape);
      expect(gpu.reduce((a, b) => a * b, 1)).toBe(e.shape.reduce((a, b) => a * b, 1));
      if (e.kind === 'buffer') expect(e.decay).toBe(false);
      if (e.name.endsWith('.bias') || e.shape.length <= 1 || e.name.startsWith('mask_tokens'))
        expect(e.decay).toBe(false);
      if (e.name.endsWith('conv2.weight')) expect(e.decay).toBe(true);
      if (e.name.endsWith('num_batches_tracked')) expect([e.dtype, e.shape]).toEqual(['I64', []]);
    }
    const cnx = sparkState(spark(convnextS));
    const byName = new Map(cnx.map((e) => [e.name, e]));
    expect(byName.get('sparse_encoder.sp_cnn.stages.0.0.dwconv.weight')!.layout).toBe('depthwise');
    expect(byName.get('sparse_encoder.sp_cnn.stages.0.0.pwconv1.weight')!.layout).toBe('linear');
    expect(byName.get('sparse_encoder.sp_cnn.stages.0.0.gamma')!.decay).toBe(false);
    expect(byName.get('dense_decoder.dec.0.up_sample.weight')!.layout).toBe('convT');
  });

  it('timm-style encoder names strip sparse_encoder.sp_cnn. and nothing else', () => {
    const names = timmEncoderState(spark(resnet18)).map((e) => e.name);
    expect(names.slice(0, 3)).toEqual(['conv1.weight', 'bn1.weight', 'bn1.bias']);
    expect(names).toContain('layer2.0.downsample.0.weight');
    expect(names.every((n) => !n.startsWith('sparse_encoder'))).toBe(true);
    expect(() => timmName('dense_decoder.proj.weight')).toThrow(/not an encoder tensor/);
  });

  it('ablations change the state: zero mask tokens have no parameters', () => {
    const zeros = sparkState({ ...spark(resnet18, 64), maskToken: 'zeros' });
    expect(zeros.some((e) => e.name.startsWith('mask_tokens'))).toBe(false);
  });
});
