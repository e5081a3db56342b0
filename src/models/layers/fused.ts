/**
 * Fused model layers (the training step's hot path): BatchNorm with the activation and the residual add that
 * follow it in one layer, whose backward reads dy through the activation's gate and accumulates its input
 * gradient into a tensor shared with the input's other consumers. Kernels: src/engine/batchnorm-fused.ts.
 * Every BatchNorm of the models is this layer: on sparse rows and the decoder's dense maps with its activation
 * and residual folded in, and in the dense encoder baselines as plain BN (the dense-masked encoder's with a row
 * mask: statistics over visible pixels only). Numerically BN → Add → Activation (the twin test of the kernels
 * and the model tests against the official fixtures hold it to that).
 */
import {
  type FusedActivation,
  fusedBatchNormBackward,
  fusedBatchNormEval,
  fusedBatchNormTrain,
} from '../../engine/batchnorm-fused';
import type { GpuTensor } from '../../gpu/runtime';
import type { Act, ActLayout, Encodable, Layer, Net } from './graph';

function rowsOf(layout: ActLayout): number {
  return layout.kind === 'sparse' ? layout.rows : layout.batch * layout.height * layout.width;
}

export interface FusedBatchNormOptions {
  /** The activation applied to BN(x) (+ residual). */
  act?: FusedActivation;
  /** Added to BN(x) before the activation: a ResNet block's shortcut, a decoder block's skip input. */
  residual?: Act;
  /** [rows] 0/1 floats on a dense map: statistics over visible rows only, 0 elsewhere (the dense-masked encoder). */
  rowMask?: GpuTensor;
}

/**
 * y = act(BN(x) + residual). Saved for backward: the input (not copied), [mean, 1/std, count], and y itself,
 * which gates the gradient through the activation.
 */
export class FusedBatchNorm implements Layer {
  readonly train: Encodable[];
  readonly eval: Encodable[];
  readonly out: Act;
  readonly paramNames: string[];
  readonly trainRefusal?: string;
  private readonly saved: GpuTensor;
  private readonly rows: number;
  private readonly act: FusedActivation;

  constructor(
    private readonly net: Net,
    readonly name: string,
    private readonly x: Act,
    private readonly o: FusedBatchNormOptions = {},
  ) {
    this.rows = rowsOf(x.layout);
    this.act = o.act ?? 'none';
    if (o.residual && o.residual.value.length !== x.value.length)
      throw new Error(`${name}: cannot add ${o.residual.value.shape} to ${x.value.shape}.`);
    const channels = x.channels;
    this.out = net.act(name, x.layout);
    this.saved = net.tensor(`${name}.saved`, [3, channels]);
    const common = {
      rows: this.rows,
      channels,
      y: this.out.value,
      x: x.value,
      gamma: net.param(`${name}.weight`),
      beta: net.param(`${name}.bias`),
      residual: o.residual?.value,
      rowMask: o.rowMask,
      act: this.act,
      runningMean: net.stat(`${name}.running_mean`),
      runningVar: net.stat(`${name}.running_var`),
    };
    // PyTorch refuses to train a BN on one value per channel; such a mask still evaluates (running statistics).
    if (this.rows < 2)
      this.trainRefusal = `${name} would normalise a single value per channel; train on more visible cells or a larger batch (evaluation works).`;
    this.train = this.trainRefusal
      ? []
      : [net.own(fusedBatchNormTrain(net.gpu, { ...common, saved: this.saved }))];
    this.eval = [net.own(fusedBatchNormEval(net.gpu, common))];
    this.paramNames = [`${name}.weight`, `${name}.bias`];
  }

  buildBackward(): Encodable[] {
    const ops: Encodable[] = [];
    const { net, name, x, o } = this;
    // With an activation of its own, dy arrives plain and this layer's output gates it; without one, a
    // consumer may have handed over its own gate (a shortcut BN under the block's ReLU).
    const incoming = this.act === 'none' ? this.out.gradientGated(ops) : this.out.gradientGated(ops, false);
    if (!incoming) return [];
    const gate = this.act === 'none' ? incoming.gate : { y: this.out.value, act: this.act };
    // The residual's share is the gated dy itself: handed over with the gate, applied by whoever reads it.
    o.residual?.contribute(incoming.tensor, gate);
    const target = x.accumulateTarget(name);
    ops.push(
      net.own(
        fusedBatchNormBackward(net.gpu, {
          rows: this.rows,
          channels: x.channels,
          rowMask: o.rowMask,
          dx: target.tensor,
          accumulate: target.accumulate,
          dy: incoming.tensor,
          gate,
          x: x.value,
          gamma: net.param(`${name}.weight`),
          saved: this.saved,
          dGamma: net.grad(`${name}.weight`),
          dBeta: net.grad(`${name}.bias`),
        }),
      ),
    );
    return ops;
  }
}
