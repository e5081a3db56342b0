/**
 * The sparse ResNet encoder on the GPU (timm names under `sparse_encoder.sp_cnn.`): stem conv → BN → ReLU →
 * optional 3×3/s2 max-pool → stages of basic or bottleneck blocks. Every layer works on the active rows of
 * its scale, which is what the official dense-conv-then-re-mask computes at the active sites. Given a dense
 * NHWC input instead, the same code builds the dense zero-masked baseline (dense convs, BN over every
 * position, raster `sites` for the max-pool). Returns the stage outputs, largest resolution first.
 */
import type { ResNetConfig } from './config';
import type { ResidualBranchHook } from './layers/drop-path';
import { FusedBatchNorm } from './layers/fused';
import type { Act, Net } from './layers/graph';
import { type DenseMasking, remasked } from './layers/masked';
import type { ModelSites } from './layers/sites';
import { Activation, Add, encoderBatchNorm, encoderConv, MaxPool } from './layers/sparse';
import { ENCODER_PREFIX } from './official-names';

/** How a conv's BatchNorm ends: an optional residual added, then an optional ReLU (each with its layer name). */
interface NormTail {
  residual?: { act: Act; name: string };
  relu?: string;
}

/**
 * Conv → BN → (+ residual) → (ReLU). On sparse rows the BN, the add and the ReLU are one fused layer
 * (./layers/fused.ts); the dense baselines keep the separate BN (row-masked for dense-masked), Add and ReLU layers.
 */
function convBn(
  net: Net,
  sites: ModelSites,
  x: Act,
  conv: string,
  bn: string,
  o: { outChannels: number; kernel: number; stride: number; noInputGrad?: boolean },
  masking: DenseMasking | null,
  tail: NormTail = {},
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
  if (y.layout.kind === 'sparse')
    return net.add(
      new FusedBatchNorm(net, bn, y, { act: tail.relu ? 'relu' : 'none', residual: tail.residual?.act }),
    ).out;
  let z = encoderBatchNorm(net, bn, y, masking);
  if (tail.residual) z = net.add(new Add(net, tail.residual.name, z, tail.residual.act)).out;
  if (tail.relu) z = relu(net, tail.relu, z);
  return z;
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
    { relu: `${p}act1` },
  );
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
      // The shortcut first, so that the branch's last BatchNorm can add it (and the block's ReLU) in its pass.
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
      // With drop path the branch is scaled before the sum (timm), so the add and ReLU stay separate layers.
      const tail: NormTail = residual
        ? {}
        : { residual: { act: shortcut, name: `${q}sum` }, relu: `${q}act_out` };
      const last = b.block === 'basic' ? 2 : 3;
      const branchIn =
        b.block === 'basic'
          ? convBn(
              net,
              sites,
              x,
              `${q}conv1`,
              `${q}bn1`,
              { outChannels: planes, kernel: 3, stride },
              masking,
              {
                relu: `${q}act1`,
              },
            )
          : convBn(
              net,
              sites,
              convBn(
                net,
                sites,
                x,
                `${q}conv1`,
                `${q}bn1`,
                { outChannels: planes, kernel: 1, stride: 1 },
                masking,
                {
                  relu: `${q}act1`,
                },
              ),
              `${q}conv2`,
              `${q}bn2`,
              { outChannels: planes, kernel: 3, stride },
              masking,
              { relu: `${q}act2` },
            );
      let y = convBn(
        net,
        sites,
        branchIn,
        `${q}conv${last}`,
        `${q}bn${last}`,
        { outChannels: out, kernel: last === 2 ? 3 : 1, stride: 1 },
        masking,
        tail,
      );
      if (residual) {
        y = residual(`${q}drop_path`, y);
        y = relu(net, `${q}act_out`, net.add(new Add(net, `${q}sum`, y, shortcut)).out);
      }
      x = y;
      inplanes = out;
    }
    features.push(x);
  });
  return features;
}
