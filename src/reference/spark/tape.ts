/**
 * The smallest autograd that keeps backward passes hand-written (llm.c style): every op computes its forward,
 * saves what its backward needs in a closure, and pushes that closure on the tape. `backward` runs the
 * closures in reverse. Gradients are float64 arrays allocated on first write and always accumulated, so
 * fan-out (residuals, skips) needs no special case; an op whose output received no gradient skips its
 * backward, so parameters on unused branches end with `grad === null` (PyTorch's `grad is None`).
 */
export class Tensor {
  grad: Float64Array | null = null;

  constructor(
    readonly shape: number[],
    readonly data: Float64Array,
    readonly label = '',
  ) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length)
      throw new RangeError(`${label}: shape [${shape}] needs ${n} values, got ${data.length}`);
  }

  static zeros(shape: number[], label = ''): Tensor {
    return new Tensor(shape, new Float64Array(shape.reduce((a, b) => a * b, 1)), label);
  }

  /** The gradient buffer, created (zero) on first use. */
  gradBuffer(): Float64Array {
    this.grad ??= new Float64Array(this.data.length);
    return this.grad;
  }
}

export class Tape {
  private readonly steps: (() => void)[] = [];

  /** When false (eval mode) ops record nothing. */
  constructor(readonly recording: boolean) {}

  /** Registers the backward of an op producing `out`; it runs only if `out` received a gradient. */
  record(out: Tensor, backward: (dOut: Float64Array) => void): void {
    if (!this.recording) return;
    this.steps.push(() => {
      if (out.grad) backward(out.grad);
    });
  }

  backward(scalar: Tensor, seed = 1): void {
    if (!this.recording) throw new Error('backward() needs a tape created with recording = true.');
    scalar.gradBuffer()[0] += seed;
    for (let i = this.steps.length - 1; i >= 0; i--) this.steps[i]();
    this.steps.length = 0;
  }
}
