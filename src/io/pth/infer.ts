/**
 * The SparkLab configuration of a checkpoint, inferred from its tensor names and shapes when it matches no
 * preset: any timm-named ResNet (basic or bottleneck blocks, any depths and widths), the official ConvNeXt
 * naming (any dims and depths), the decoder width and block count, the densify norm and mask tokens.
 *
 * Strides leave no trace in the weights. The decoder's block count gives the total stride; how it splits
 * between the stem, the max-pool and the first stage follows the two layouts SparkLab and timm use (the
 * 7×7/s2 stem with max-pool of the ImageNet ResNets, or a stride-1 stem whose first stage downsamples),
 * told apart by the stem and by whether the first block has a projection shortcut. The result is checked
 * against every tensor before it is used.
 */
import { SPARK_DEFAULTS, type SparkConfig } from '../../models/config';
import { ENCODER_PREFIX } from '../../models/official-names';

type Shapes = ReadonlyMap<string, readonly number[]>;

function count(shapes: Shapes, name: (i: number) => string): number {
  let n = 0;
  while (shapes.has(name(n))) n++;
  return n;
}

/** The SparK head; an encoder-only file (no decoder) gets the family's official densify norm. */
function head(shapes: Shapes, family: 'resnet' | 'convnext') {
  const decoderBlocks = count(shapes, (k) => `dense_decoder.dec.${k}.up_sample.weight`);
  const densifyNorm: SparkConfig['densifyNorm'] = shapes.has('densify_norms.0.running_mean')
    ? 'bn'
    : shapes.has('densify_norms.0.weight')
      ? 'ln'
      : decoderBlocks === 0
        ? family === 'resnet'
          ? 'bn'
          : 'ln'
        : 'none';
  return {
    densifyNorm,
    maskToken: shapes.has('mask_tokens.0') || decoderBlocks === 0 ? ('learned' as const) : ('zeros' as const),
    decoderBlocks,
    decoderWidth: shapes.get('dense_decoder.dec.0.up_sample.weight')?.[0],
  };
}

/**
 * A configuration that the names and shapes suggest, or undefined when they are not a SparK model SparkLab
 * can build. `encoderOnly` files have no decoder: the decoder width defaults to 768 and the strides to the
 * standard layouts.
 */
export function inferConfig(shapes: Shapes, inputSize: number, maskRatio = 0.6): SparkConfig | undefined {
  const p = ENCODER_PREFIX;
  const family = shapes.has(`${p}conv1.weight`) ? 'resnet' : 'convnext';
  const h = head(shapes, family);
  const common = {
    ...SPARK_DEFAULTS,
    inputSize,
    maskRatio,
    decoderWidth: h.decoderWidth ?? 768,
    maskToken: h.maskToken,
    densifyNorm: h.densifyNorm,
  };
  const stem = shapes.get(`${p}conv1.weight`);
  if (stem) {
    const stages = count(shapes, (i) => `${p}layer${i + 1}.0.conv1.weight`);
    if (stages === 0) return undefined;
    const depths = Array.from({ length: stages }, (_, i) =>
      count(shapes, (j) => `${p}layer${i + 1}.${j}.conv1.weight`),
    );
    const widths = Array.from(
      { length: stages },
      (_, i) => shapes.get(`${p}layer${i + 1}.0.conv1.weight`)?.[0] ?? 0,
    );
    const bottleneck = shapes.has(`${p}layer1.0.conv3.weight`);
    const expansion = bottleneck ? 4 : 1;
    const stemKernel = stem[2];
    const firstHasShortcut = shapes.has(`${p}layer1.0.downsample.0.weight`);
    // Stride before the later stages, each of which halves: stem × max-pool × first stage.
    const blocks = h.decoderBlocks || (stemKernel === 7 ? stages + 1 : stages);
    const early = 2 ** blocks / 2 ** (stages - 1);
    let stemStride = 1;
    let maxpool = false;
    let firstStride = 1;
    if (early === 4) [stemStride, maxpool, firstStride] = [2, true, 1];
    else if (early === 8) [stemStride, maxpool, firstStride] = [2, true, 2];
    else if (early === 2) {
      const projectionNeededByWidth = stem[0] !== widths[0] * expansion;
      if (firstHasShortcut && !projectionNeededByWidth) firstStride = 2;
      else stemStride = 2;
    } else if (early !== 1) return undefined;
    return {
      ...common,
      backbone: {
        family: 'resnet',
        block: bottleneck ? 'bottleneck' : 'basic',
        stemWidth: stem[0],
        stemKernel,
        stemStride,
        maxpool,
        widths,
        depths,
        stageStrides: widths.map((_, i) => (i === 0 ? firstStride : 2)),
      },
    };
  }
  if (shapes.has(`${p}downsample_layers.0.0.weight`)) {
    const stages = count(shapes, (i) => `${p}stages.${i}.0.dwconv.weight`);
    if (stages === 0) return undefined;
    const dims = Array.from(
      { length: stages },
      (_, i) => shapes.get(`${p}stages.${i}.0.dwconv.weight`)?.[0] ?? 0,
    );
    const depths = Array.from({ length: stages }, (_, i) =>
      count(shapes, (j) => `${p}stages.${i}.${j}.dwconv.weight`),
    );
    return { ...common, backbone: { family: 'convnext', dims, depths } };
  }
  return undefined;
}
