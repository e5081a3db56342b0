/** Float64 twin of shaders/matmul.wgsl (`matmul` and `matmulSplitK` compute the same thing). */

export interface MatmulReferenceOptions {
  a: ArrayLike<number>;
  b: ArrayLike<number>;
  M: number;
  N: number;
  K: number;
  /** a is stored [K, M]. */
  transA?: boolean;
  /** b is stored [N, K]. */
  transB?: boolean;
  bias?: ArrayLike<number>;
  /** The previous output, added when accumulating (out += …). */
  accumulateInto?: ArrayLike<number>;
  alpha?: number;
}

/** out[M,N] = alpha·op(a)·op(b) (+ bias[N]) (+ accumulateInto), row-major. */
export function matmul(options: MatmulReferenceOptions): Float64Array {
  const { a, b, M, N, K, transA = false, transB = false, bias, accumulateInto, alpha = 1 } = options;
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let sum = 0;
      for (let k = 0; k < K; k++) {
        const aik = transA ? a[k * M + i] : a[i * K + k];
        const bkj = transB ? b[j * K + k] : b[k * N + j];
        sum += aik * bkj;
      }
      let value = alpha * sum;
      if (bias) value += bias[j];
      if (accumulateInto) value += accumulateInto[i * N + j];
      out[i * N + j] = value;
    }
  }
  return out;
}

/**
 * Σ_k |op(a)[i,k]|·|op(b)[k,j]| scaled by |alpha|, plus |bias| and |previous output|: the magnitude that
 * bounds float32 rounding error of any summation order (|error| ≤ (K + 2)·u·this, u = 2⁻²⁴).
 */
export function matmulMagnitude(options: MatmulReferenceOptions): Float64Array {
  const abs = (x: ArrayLike<number>) => Float64Array.from(x as ArrayLike<number>, Math.abs);
  return matmul({
    ...options,
    a: abs(options.a),
    b: abs(options.b),
    alpha: Math.abs(options.alpha ?? 1),
    bias: options.bias ? abs(options.bias) : undefined,
    accumulateInto: options.accumulateInto ? abs(options.accumulateInto) : undefined,
  });
}
