/**
 * Geometry for the small SVG charts (loss curve, throughput, histograms): domains, "nice" tick values and
 * path strings. Kept free of React so it can be tested on its own.
 */

export interface Point {
  x: number;
  y: number;
}

export interface Box {
  width: number;
  height: number;
}

/** The extent of the finite values; a single value gets a small span so it draws mid-chart. */
export function extent(values: Iterable<number>, includeZero = false): [number, number] {
  let lo = includeZero ? 0 : Number.POSITIVE_INFINITY;
  let hi = includeZero ? 0 : Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo > hi) return [0, 1];
  if (lo === hi) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    return [lo - pad, hi + pad];
  }
  return [lo, hi];
}

/** Round tick values (1, 2 or 5 × 10^k apart) inside [lo, hi]: the finest spacing giving at most count + 1. */
export function niceTicks(lo: number, hi: number, count = 4): number[] {
  if (!(hi > lo) || count < 1) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => (hi - lo) / s <= count + 1) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    // Snap to the step so 0.30000000000000004 prints as 0.3.
    ticks.push(Number((Math.round(t / step) * step).toPrecision(12)));
  }
  return ticks;
}

export function scale(domain: [number, number], range: [number, number]): (v: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

/**
 * An SVG path through the points (y up). Non-finite values break the line rather than dropping to an axis,
 * so a NaN step shows as a gap.
 */
export function linePath(
  points: readonly Point[],
  xDomain: [number, number],
  yDomain: [number, number],
  box: Box,
) {
  const sx = scale(xDomain, [0, box.width]);
  const sy = scale(yDomain, [box.height, 0]);
  let d = '';
  let pen = false;
  for (const p of points) {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** The largest density (count / total) of a histogram. */
export function maxDensity(counts: ArrayLike<number>): number {
  let total = 0;
  let max = 0;
  for (let i = 0; i < counts.length; i++) {
    total += counts[i];
    max = Math.max(max, counts[i]);
  }
  return total > 0 ? max / total : 0;
}

/** Short number text for axes and read-outs: 3 significant digits, exponent form when tiny or huge. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}
