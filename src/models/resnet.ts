/**
 * The sparse ResNet encoder on the GPU (timm names under `sparse_encoder.sp_cnn.`): stem conv → BN → ReLU →
 * optional 3×3/s2 max-pool → stages of basic or bottleneck blocks. Every layer works on the active rows of
 * its scale, which is what the official dense-conv-then-re-mask computes at the active sites. Given a dense
 * NHWC input instead, the same code builds the dense zero-masked baseline (dense convs, BN over every
 * position, raster `sites` for the max-pool). Returns the stage outputs, largest resolution first.
 */
import type { ResNetConfig } from './config';
import type { ResidualBranchHook } from './layers/drop-path';
import type { Act, Net } from './layers/graph';
import { type DenseMasking, remasked } from './layers/masked';
import type { ModelSites } from './layers/sites';
import { Activation, Add, encoderBatchNorm, encoderConv, MaxPool } from './layers/sparse';
import { ENCODER_PREFIX } from './official-names';

function convBn(
  net: Net,
  sites: ModelSites,
  x: Act,
  conv: string,
  bn: string,
  o: { outChannels: number; kernel: number; stride: number; noInputGrad?: boolean },
  masking: DenseMasking | null,
): Act {
  const y = encoderConv(
    net,
    sites,
    conv,
    x,
    {
      weight: `${conv}.weight`,
      outChannels: o.outChannels,
      kernel: o.kernel,
      stride: o.stride,
      padding: Math.floor(o.kernel / 2),
      noInputGrad: o.noInputGrad,
    },
    masking,
  );
  return encoderBatchNorm(net, bn, y, masking);
}

function relu(net: Net, name: string, x: Act): Act {
  return net.add(new Activation(net, name, x, 'relu')).out;
}

/**
 * `image` holds the visible pixels as rows at the full-resolution scale (3 channels), or the zero-filled
 * image NHWC for the dense baselines; `masking` makes the dense one the official dense-masked computation.
 * `residual` (drop path) sees each block's branch before the shortcut is added, as timm's blocks apply it.
 */
export function buildSparseResNet(
  net: Net,
  sites: ModelSites,
  b: ResNetConfig,
  image: Act,
  masking: DenseMasking | null = null,
  residual?: ResidualBranchHook,
): Act[] {
  const p = ENCODER_PREFIX;
  let x = convBn(
    net,
    sites,
    image,
    `${p}conv1`,
    `${p}bn1`,
    {
      outChannels: b.stemWidth,
      kernel: b.stemKernel,
      stride: b.stemStride,
      noInputGrad: true,
    },
    masking,
  );
  x = relu(net, `${p}act1`, x);
  if (b.maxpool)
    x = remasked(net, `${p}maxpool.remask`, net.add(new MaxPool(net, `${p}maxpool`, x, sites)).out, masking);
  const expansion = b.block === 'bottleneck' ? 4 : 1;
  let inplanes = b.stemWidth;
  const features: Act[] = [];
  b.widths.forEach((planes, i) => {
    for (let j = 0; j < b.depths[i]; j++) {
      const q = `${p}layer${i + 1}.${j}.`;
      const stride = j === 0 ? b.stageStrides[i] : 1;
      const out = planes * expansion;
      let y: Act;
      if (b.block === 'basic') {
        y = convBn(
          net,
          sites,
          x,
          `${q}conv1`,
          `${q}bn1`,
          { outChannels: planes, kernel: 3, stride },
          masking,
        );
        y = relu(net, `${q}act1`, y);
        y = convBn(
          net,
          sites,
          y,
          `${q}conv2`,
          `${q}bn2`,
          { outChannels: planes, kernel: 3, stride: 1 },
          masking,
        );
      } else {
        y = convBn(
          net,
          sites,
          x,
          `${q}conv1`,
          `${q}bn1`,
          { outChannels: planes, kernel: 1, stride: 1 },
          masking,
        );
        y = relu(net, `${q}act1`, y);
        y = convBn(
          net,
          sites,
          y,
          `${q}conv2`,
          `${q}bn2`,
          { outChannels: planes, kernel: 3, stride },
          masking,
        );
        y = relu(net, `${q}act2`, y);
        y = convBn(
          net,
          sites,
          y,
          `${q}conv3`,
          `${q}bn3`,
          { outChannels: out, kernel: 1, stride: 1 },
          masking,
        );
      }
      const shortcut =
        stride !== 1 || inplanes !== out
          ? convBn(
              net,
              sites,
              x,
              `${q}downsample.0`,
              `${q}downsample.1`,
              {
                outChannels: out,
                kernel: 1,
                stride,
              },
              masking,
            )
          : x;
      if (residual) y = residual(`${q}drop_path`, y);
      x = relu(net, `${q}act_out`, net.add(new Add(net, `${q}sum`, y, shortcut)).out);
      inplanes = out;
    }
    features.push(x);
  });
  return features;
}
