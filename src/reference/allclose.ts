/**
 * The one comparison used by every kernel test.
 *
 *   max|actual − expected| ≤ rtol · max|expected| + atol
 *
 * Scaling by the tensor's largest magnitude (not element by element) is how float32 error behaves in sums:
 * the error of an output is proportional to the size of the terms summed into it, not to the output itself
 * (which may cancel to ~0). Choose rtol by summation depth: 1e-5 for elementwise ops, ~1e-4 for long
 * reductions and GEMMs with K in the thousands; the official-parity tolerance is 1e-3.
 */
export interface CloseOptions {
  rtol?: number;
  atol?: number;
  label?: string;
}

export interface CloseReport {
  ok: boolean;
  maxAbsError: number;
  maxExpected: number;
  /** maxAbsError / max|expected| (0 when both are 0). */
  relError: number;
  worstIndex: number;
  message: string;
}

export function compareClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  options: CloseOptions = {},
): CloseReport {
  const { rtol = 1e-5, atol = 1e-6, label = 'tensor' } = options;
  if (actual.length !== expected.length) {
    return {
      ok: false,
      maxAbsError: Number.POSITIVE_INFINITY,
      maxExpected: 0,
      relError: Number.POSITIVE_INFINITY,
      worstIndex: -1,
      message: `${label}: length ${actual.length} differs from expected ${expected.length}`,
    };
  }
  let maxAbsError = 0;
  let maxExpected = 0;
  let worstIndex = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    const a = actual[i];
    // An infinite expected value must be matched exactly, and must not widen the bound to ∞ for the rest.
    if (Number.isFinite(e)) maxExpected = Math.max(maxExpected, Math.abs(e));
    const err =
      Number.isNaN(a) || Number.isNaN(e)
        ? Number.isNaN(a) && Number.isNaN(e)
          ? 0
          : Number.POSITIVE_INFINITY
        : !Number.isFinite(e) || !Number.isFinite(a)
          ? a === e
            ? 0
            : Number.POSITIVE_INFINITY
          : Math.abs(a - e);
    if (err > maxAbsError || worstIndex < 0) {
      if (err >= maxAbsError) worstIndex = i;
      maxAbsError = Math.max(maxAbsError, err);
    }
  }
  const bound = rtol * maxExpected + atol;
  const ok = maxAbsError <= bound;
  const relError = maxExpected > 0 ? maxAbsError / maxExpected : maxAbsError;
  const message = ok
    ? `${label}: ok (max err ${maxAbsError.toExponential(2)} ≤ ${bound.toExponential(2)})`
    : `${label}: max |err| ${maxAbsError.toExponential(3)} at [${worstIndex}] (actual ${actual[worstIndex]}, expected ${expected[worstIndex]}) exceeds ${rtol}·${maxExpected.toExponential(3)} + ${atol}`;
  return { ok, maxAbsError, maxExpected, relError, worstIndex, message };
}

/** Throws with the worst element named when the tensors differ beyond tolerance. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  options: CloseOptions = {},
): CloseReport {
  const report = compareClose(actual, expected, options);
  if (!report.ok) throw new Error(report.message);
  return report;
}

/**
 * assertClose with a per-channel allowance added to the bound, for channels-last data (element i belongs to
 * channel i % channels): max|a − e| ≤ rtol·max|e| + atol + slack(channel). BatchNorm's float32 conditioning is
 * per channel (x̂'s rounding scales with max|x|·invStd of that channel).
 */
export function assertChannelsClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  channels: number,
  options: CloseOptions,
  slack: (channel: number) => number,
): void {
  const { rtol = 1e-5, atol = 1e-6, label = 'tensor' } = options;
  if (actual.length !== expected.length)
    throw new Error(`${label}: length ${actual.length} differs from expected ${expected.length}`);
  let maxExpected = 0;
  for (let i = 0; i < expected.length; i++) maxExpected = Math.max(maxExpected, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    const bound = rtol * maxExpected + atol + slack(i % channels);
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= bound))
      throw new Error(
        `${label}: |err| ${err.toExponential(3)} at [${i}] (actual ${actual[i]}, expected ${expected[i]}) exceeds ${bound.toExponential(3)}`,
      );
  }
}

/** Central finite differences of a scalar function of a float64 vector, in place (restores x). */
export function numericGradient(f: (x: Float64Array) => number, x: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const old = x[i];
    x[i] = old + h;
    const up = f(x);
    x[i] = old - h;
    const down = f(x);
    x[i] = old;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}
