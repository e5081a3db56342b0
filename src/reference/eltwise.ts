/** Float64 twins of shaders/eltwise.wgsl. */

export type Vec = ArrayLike<number>;

export function map1(x: Vec, f: (v: number) => number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]);
  return out;
}

export function map2(a: Vec, b: Vec, f: (u: number, v: number) => number): Float64Array {
  if (a.length !== b.length) throw new RangeError(`length ${a.length} vs ${b.length}`);
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f(a[i], b[i]);
  return out;
}

/** erf to ~1e-15 (Abramowitz–Stegun 7.1.26 is too coarse for a reference): series / continued fraction. */
export function erf(x: number): number {
  const z = Math.abs(x);
  let r: number;
  if (z < 2.5) {
    // Maclaurin series, converges fast for small z.
    let term = z;
    let sum = z;
    for (let n = 1; n < 60; n++) {
      term *= (-z * z) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // Continued fraction for erfc (Lentz), accurate for large z.
    let f = z;
    let c = z;
    let d = 0;
    for (let n = 1; n < 200; n++) {
      const an = n / 2;
      d = z + an * d;
      d = 1 / d;
      c = z + an / c;
      const delta = c * d;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    r = 1 - Math.exp(-z * z) / (f * Math.sqrt(Math.PI));
  }
  return x < 0 ? -r : r;
}

export const relu = (v: number) => Math.max(v, 0);
export const relu6 = (v: number) => Math.min(Math.max(v, 0), 6);
export const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
export const reluGrad = (x: number) => (x > 0 ? 1 : 0);
export const relu6Grad = (x: number) => (x > 0 && x < 6 ? 1 : 0);
export const geluGrad = (x: number) =>
  0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
