/**
 * Weight layouts. PyTorch stores conv weights OIHW and linear weights [out, in]; the GPU kernels want the
 * reduction axis contiguous with the output channel fastest (GEMM B = [K, Cout]), so weights live on the
 * GPU as HWIO / [in, out]. Conversion happens only at the edges (load, save, parity), never per step.
 *
 * | layout      | official (PyTorch) shape | GPU shape          |
 * | ----------- | ------------------------ | ------------------ |
 * | same        | any                      | same               |
 * | conv        | [O, I, kh, kw]           | [kh, kw, I, O]     |
 * | depthwise   | [C, 1, kh, kw]           | [kh, kw, C]        |
 * | linear      | [O, I]                   | [I, O]             |
 * | convT       | [I, O, kh, kw]           | [kh, kw, I, O]     |
 */
export type ParamLayout = 'same' | 'conv' | 'depthwise' | 'linear' | 'convT';

export function gpuShapeOf(layout: ParamLayout, official: readonly number[]): number[] {
  switch (layout) {
    case 'same':
      return [...official];
    case 'conv': {
      const [o, i, kh, kw] = official;
      return [kh, kw, i, o];
    }
    case 'depthwise': {
      const [c, one, kh, kw] = official;
      if (one !== 1) throw new RangeError(`depthwise weight must be [C, 1, kh, kw], got [${official}]`);
      return [kh, kw, c];
    }
    case 'linear': {
      const [o, i] = official;
      return [i, o];
    }
    case 'convT': {
      const [i, o, kh, kw] = official;
      return [kh, kw, i, o];
    }
  }
}

/** Index permutation: gpu[gpuIndex] = official[officialIndex]. */
function forEachPair(
  layout: ParamLayout,
  official: readonly number[],
  visit: (officialIndex: number, gpuIndex: number) => void,
): void {
  const n = official.reduce((a, b) => a * b, 1);
  if (layout === 'same') {
    for (let i = 0; i < n; i++) visit(i, i);
    return;
  }
  if (layout === 'linear') {
    const [o, i] = official;
    for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) visit(a * i + b, b * o + a);
    return;
  }
  const [d0, d1, kh, kw] = official;
  for (let a = 0; a < d0; a++)
    for (let b = 0; b < d1; b++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) {
          const src = ((a * d1 + b) * kh + y) * kw + x;
          let dst: number;
          if (layout === 'conv')
            dst = ((y * kw + x) * d1 + b) * d0 + a; // [kh,kw,I=d1,O=d0]
          else if (layout === 'depthwise')
            dst = (y * kw + x) * d0 + a; // [kh,kw,C=d0]
          else dst = ((y * kw + x) * d0 + a) * d1 + b; // convT: [kh,kw,I=d0,O=d1]
          visit(src, dst);
        }
}

export function toGpuLayout(
  layout: ParamLayout,
  official: readonly number[],
  data: ArrayLike<number>,
): Float32Array {
  const out = new Float32Array(data.length);
  forEachPair(layout, official, (src, dst) => {
    out[dst] = data[src];
  });
  return out;
}

export function fromGpuLayout(
  layout: ParamLayout,
  official: readonly number[],
  data: ArrayLike<number>,
): Float32Array {
  const out = new Float32Array(data.length);
  forEachPair(layout, official, (src, dst) => {
    out[src] = data[dst];
  });
  return out;
}
