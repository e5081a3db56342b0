/**
 * The small static graph the GPU model is built from. A model is a list of layers built once per
 * (config, batch): each layer allocates its output activation, prepares its train-mode and eval-mode forward
 * dispatches in its constructor, and prepares its backward later, in `buildBackward`, once every consumer of
 * its output is known (so fan-in — residual shortcuts, the decoder's skip inputs — is summed exactly where
 * needed and nowhere else).
 *
 * Gradient flow: a consumer either writes its input gradient into a fresh tensor (`gradTarget`) or hands an
 * existing one over (`contribute`, e.g. an addition passes dy to both operands). The producer then asks for
 * `gradient()`: the single contribution itself, or the sum of all of them (extra add dispatches, encoded
 * just before the producer's backward). An activation nobody differentiates has no gradient and its
 * producer's backward is skipped: the parameters behind it keep zero gradients, which is PyTorch's
 * `grad is None` for e.g. the densify layers of a scale the decoder does not read.
 */

import type { Encodable } from '../../engine/conv2d';
import { binaryForward, unaryBackward } from '../../engine/eltwise';
import type { Arena } from '../../engine/params';
import { elementCount, type Gpu, type GpuTensor } from '../../gpu/runtime';

export type { Encodable };

/**
 * Activation buffers sized by the first (worst-case) build of a graph and handed out again, as views of the
 * current size, to every later build over the same configuration: a model rebuilt for another batch or
 * visible-cell count makes new dispatches and bind groups, never new activation buffers. Tensors are matched
 * by their order of request, which is the same in every build of one configuration (the builders' structure
 * depends on the configuration only); the label is checked to catch a builder for which it is not.
 */
export class ActivationMemory {
  private readonly slots: GpuTensor[] = [];
  private next = 0;
  private sized = false;

  constructor(private readonly gpu: Gpu) {}

  /** Starts a build: the first one allocates, later ones take the same buffers in the same order. */
  beginBuild(): void {
    this.next = 0;
  }

  /** Ends the sizing build: from now on every request must fit a buffer it made. */
  endSizing(): void {
    this.sized = true;
  }

  take(label: string, shape: readonly number[]): GpuTensor {
    if (!this.sized) {
      const t = this.gpu.tensor(label, shape);
      this.slots.push(t);
      return t;
    }
    const slot = this.slots[this.next++];
    const length = elementCount(shape);
    if (!slot || slot.label !== label || length > slot.length)
      throw new Error(
        `Rebuilding the model asked for ${label} [${shape}] where the first build made ${slot ? `${slot.label} [${slot.shape}]` : 'nothing'}.`,
      );
    return { buffer: slot.buffer, offset: slot.offset, shape: [...shape], length, label };
  }

  release(): void {
    for (const t of this.slots) this.gpu.releaseTensor(t);
    this.slots.length = 0;
  }
}

/** Compacted sparse rows [rows, channels] at the scale whose cells are `side`×`side` sites. */
export interface SparseLayout {
  kind: 'sparse';
  side: number;
  rows: number;
  channels: number;
}

/** Dense NHWC [batch, height, width, channels]. */
export interface DenseLayout {
  kind: 'dense';
  batch: number;
  height: number;
  width: number;
  channels: number;
}

export type ActLayout = SparseLayout | DenseLayout;

/** The output of an activation that a consumer's gradient passes through (fused into that consumer). */
export interface GradientGate {
  /** The activation's output. */
  y: GpuTensor;
  act: 'relu' | 'relu6';
}

/** One consumer's share of a gradient: a tensor, possibly still to be passed through an activation's gate. */
interface Contribution {
  tensor: GpuTensor;
  gate?: GradientGate;
}

export class Act {
  private readonly contributions: Contribution[] = [];
  /** The shared tensor of the consumers that accumulate into it (the first writes, later ones add). */
  private accumulator: GpuTensor | null = null;
  private resolved: GpuTensor | null | undefined;

  constructor(
    private readonly net: Net,
    readonly value: GpuTensor,
    readonly layout: ActLayout,
  ) {}

  get channels(): number {
    return this.layout.channels;
  }

  private checkOpen(): void {
    if (this.resolved !== undefined)
      throw new Error(`${this.value.label}: its gradient was already resolved; consumers come first.`);
  }

  /** A new tensor (same shape) into which one consumer writes its share of this activation's gradient. */
  gradTarget(label: string): GpuTensor {
    this.checkOpen();
    const t = this.net.tensor(`${label}.d${this.value.label}`, this.value.shape);
    this.contributions.push({ tensor: t });
    return t;
  }

  /**
   * For consumers whose kernel can add into its output: one tensor shared by all of them. The first caller
   * (the first of them in backward encoding order, since consumers are asked in that order) writes it and
   * every later one accumulates, so fan-in costs no add dispatch.
   */
  accumulateTarget(label: string): { tensor: GpuTensor; accumulate: boolean } {
    this.checkOpen();
    if (this.accumulator) return { tensor: this.accumulator, accumulate: true };
    this.accumulator = this.gradTarget(label);
    return { tensor: this.accumulator, accumulate: false };
  }

  /**
   * Registers an existing tensor (read-only from now on) as one consumer's share of the gradient; with a gate,
   * the share is that tensor passed through the gate's activation derivative (e.g. a residual under the
   * ReLU fused into the block's BatchNorm).
   */
  contribute(tensor: GpuTensor, gate?: GradientGate): void {
    this.checkOpen();
    this.contributions.push({ tensor, gate });
  }

  /**
   * The full gradient, or null when nothing downstream is differentiated. Sums several contributions into a
   * new tensor (and materialises gated ones); the dispatches go into `ops`, which the producer encodes before
   * its own backward.
   */
  gradient(ops: Encodable[]): GpuTensor | null {
    if (this.resolved !== undefined) return this.resolved;
    const gated = this.gradientGated(ops, false);
    this.resolved = gated ? gated.tensor : null;
    return this.resolved;
  }

  /**
   * Like `gradient`, but a single gated contribution is handed over with its gate (for a producer that can
   * apply it in its own kernel) instead of being materialised. `allowGate` false always materialises.
   */
  gradientGated(ops: Encodable[], allowGate = true): Contribution | null {
    if (this.resolved !== undefined) return this.resolved ? { tensor: this.resolved } : null;
    if (this.contributions.length === 0) {
      this.resolved = null;
      return null;
    }
    if (allowGate && this.contributions.length === 1 && this.contributions[0].gate) {
      this.resolved = this.contributions[0].tensor; // only its consumer reads it, through the gate
      return this.contributions[0];
    }
    const plain = this.contributions.map((c, i) => {
      if (!c.gate) return c.tensor;
      const t = this.net.tensor(`${this.value.label}.gated${i}`, this.value.shape);
      ops.push(this.net.own(unaryBackward(this.net.gpu, c.gate.act, t, c.gate.y, c.tensor)));
      return t;
    });
    let sum = plain[0];
    for (let i = 1; i < plain.length; i++) {
      const next = this.net.tensor(`${this.value.label}.grad_sum${i}`, this.value.shape);
      ops.push(this.net.own(binaryForward(this.net.gpu, 'add', next, sum, plain[i])));
      sum = next;
    }
    this.resolved = sum;
    return { tensor: sum };
  }
}

export interface Layer {
  readonly name: string;
  /** The layer's output activation (absent for layers that only run fixed dispatches). */
  readonly out?: Act;
  /** Train-mode forward (batch statistics). */
  readonly train: Encodable[];
  /** Eval-mode forward (running statistics). */
  readonly eval: Encodable[];
  /** Prepares the backward; returns its dispatches in encoding order (empty when nothing needs a gradient). */
  buildBackward(): Encodable[];
  /** Parameters this layer differentiates (official names); unused when its backward was skipped. */
  readonly paramNames: readonly string[];
  /** Why this layer cannot run in train mode at the current sizes (it still evaluates), if it cannot. */
  readonly trainRefusal?: string;
}

/**
 * What every layer needs: the device, the arenas, activation memory, and ownership of dispatches for release.
 * `release()` frees the dispatches (and their scratch); the activation buffers belong to the memory.
 */
export class Net {
  readonly layers: Layer[] = [];
  private readonly encodables: Encodable[] = [];
  /** Per layer, in encoding order (the layer's name is the dispatch scope a profiler sees). */
  private trainOps: [string, Encodable[]][] = [];
  private evalOps: Encodable[] = [];
  private backwardOps: [string, Encodable[]][] = [];
  readonly unusedParams = new Set<string>();

  constructor(
    readonly gpu: Gpu,
    readonly params: Arena,
    readonly stats: Arena,
    readonly label: string,
    private readonly memory: ActivationMemory,
  ) {
    memory.beginBuild();
  }

  tensor(label: string, shape: readonly number[]): GpuTensor {
    return this.memory.take(`${this.label}.${label}`, shape);
  }

  own<T extends Encodable>(encodable: T): T {
    this.encodables.push(encodable);
    return encodable;
  }

  act(label: string, layout: ActLayout): Act {
    const shape =
      layout.kind === 'sparse'
        ? [layout.rows, layout.channels]
        : [layout.batch, layout.height, layout.width, layout.channels];
    return new Act(this, this.tensor(label, shape), layout);
  }

  /** An activation over a tensor some other op writes (e.g. the masked image as the dense encoder's rows). */
  wrap(tensor: GpuTensor, layout: ActLayout): Act {
    return new Act(this, tensor, layout);
  }

  add<L extends Layer>(layer: L): L {
    this.layers.push(layer);
    return layer;
  }

  param(name: string): GpuTensor {
    return this.params.view(name);
  }

  grad(name: string): GpuTensor {
    return this.params.view(name, 'grads');
  }

  stat(name: string): GpuTensor {
    return this.stats.view(name);
  }

  /** Why this graph cannot train (a layer refuses at these sizes); it can still evaluate. */
  trainRefusal: string | undefined;

  /**
   * Freezes the graph: collects forward lists and prepares every backward in reverse order (none when a
   * layer refuses to train at these sizes, or for an evaluation-only graph: `evalOnly` is its refusal).
   */
  finish(options: { evalOnly?: string } = {}): void {
    this.trainRefusal = options.evalOnly ?? this.layers.find((l) => l.trainRefusal)?.trainRefusal;
    this.evalOps = this.layers.flatMap((l) => l.eval);
    if (this.trainRefusal) return;
    this.trainOps = this.layers.map((l) => [`forward:${l.name}`, l.train]);
    const backward: [string, Encodable[]][] = [];
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const layer = this.layers[i];
      const ops = layer.buildBackward();
      if (ops.length === 0) for (const name of layer.paramNames) this.unusedParams.add(name);
      else backward.push([`backward:${layer.name}`, ops]);
    }
    this.backwardOps = backward;
  }

  encodeTrain(pass: GPUComputePassEncoder): void {
    this.encodeTrainForward(pass);
    this.encodeTrainBackward(pass);
  }

  /** Train-mode forward and loss only (split from the backward so a trainer can time each in its own pass). */
  encodeTrainForward(pass: GPUComputePassEncoder): void {
    if (this.trainRefusal) throw new RangeError(this.trainRefusal);
    Net.encodeScoped(this.gpu, pass, this.trainOps);
  }

  private static encodeScoped(gpu: Gpu, pass: GPUComputePassEncoder, lists: [string, Encodable[]][]): void {
    for (const [scope, ops] of lists) {
      gpu.dispatchScope = scope;
      for (const op of ops) op.encode(pass);
    }
    gpu.dispatchScope = '';
  }

  /** The backward of the last recorded train forward. */
  encodeTrainBackward(pass: GPUComputePassEncoder): void {
    if (this.trainRefusal) throw new RangeError(this.trainRefusal);
    Net.encodeScoped(this.gpu, pass, this.backwardOps);
  }

  encodeEval(pass: GPUComputePassEncoder): void {
    for (const op of this.evalOps) op.encode(pass);
  }

  release(): void {
    for (const e of this.encodables) e.release();
    this.encodables.length = 0;
  }
}
