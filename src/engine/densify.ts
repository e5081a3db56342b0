/**
 * Densify scatter (spark-spec §3.1 step 2): compacted sparse rows [N_active, C] (block-major, as
 * src/sparse/sites.ts orders them) → dense NHWC [B, H, W, C] with the learned per-scale mask token at masked
 * pixels, or zeros (ablation). The sparse norm before it and the projection conv after it are separate
 * layers composed by the model. Kernels: shaders/scatter.wgsl. Twin: src/reference/densify.ts.
 */
import gridSource from '../../shaders/lib/grid.wgsl?raw';
import scatterFile from '../../shaders/scatter.wgsl?raw';
import {
  bindingLayout,
  type Gpu,
  type GpuTensor,
  grid1d,
  type PreparedDispatch,
  PreparedSequence,
} from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';
import { absentBinding, chooseSlices, reduceSlices } from './gemm';

/** pixels = B·H·W; rowsPerSlice: pixels per token-gradient slice; useToken: masked pixels take the token. */
const ScatterParams = uniformStruct('ScatterParams', {
  pixels: 'u32',
  channels: 'u32',
  rowsPerSlice: 'u32',
  useToken: 'u32',
  accumulate: 'u32',
});

/** scatter.wgsl composed with its uniforms and the grid indexing library. */
const scatterSource = composeShader(ScatterParams.wgsl, gridSource, scatterFile);

export interface DensifyDims {
  batch: number;
  height: number;
  width: number;
  channels: number;
}

const ForwardLayout = bindingLayout('scatter.forward', {
  out: 'write', // [B, H, W, C] dense
  rows: 'read', // [N_active, C] compacted
  gridIndex: 'read', // [B, H, W] i32 row of each pixel, −1 masked
  token: 'read', // [C] the mask token, or the zeros buffer when use_token = 0
});
/** densify_backward_rows and token_partials: a gradient gathered from the dense map. */
const BackwardLayout = bindingLayout('scatter.backward', {
  out: 'write', // d rows [N_active, C], or token partials [slices, C]
  dOut: 'read', // [B, H, W, C]
  gridIndex: 'read', // [B, H, W] i32
});

function kernel(gpu: Gpu, entryPoint: 'densify_forward' | 'densify_backward_rows' | 'token_partials') {
  const layout = entryPoint === 'densify_forward' ? ForwardLayout : BackwardLayout;
  return gpu.kernel({ label: `scatter.${entryPoint}`, code: scatterSource, entryPoint, layout });
}

function params(
  pixels: number,
  channels: number,
  rowsPerSlice: number,
  useToken: boolean,
  accumulate: boolean,
) {
  return ScatterParams.pack({ pixels, channels, rowsPerSlice, useToken, accumulate });
}

function check(
  label: string,
  dims: DensifyDims,
  dense: GpuTensor,
  rows: GpuTensor,
  gridIndex: GpuTensor,
): void {
  const pixels = dims.batch * dims.height * dims.width;
  if (gridIndex.length !== pixels) {
    throw new RangeError(
      `${label}: the grid index ${gridIndex.label} has ${gridIndex.length} entries, expected B·H·W = ${pixels}.`,
    );
  }
  if (dense.length !== pixels * dims.channels) {
    throw new RangeError(
      `${label}: the dense map ${dense.label} has ${dense.length} elements, expected ${pixels * dims.channels}.`,
    );
  }
  if (rows.length % dims.channels !== 0 || rows.length > dense.length) {
    throw new RangeError(
      `${label}: the rows ${rows.label} (${rows.length} elements) are not whole rows of ${dims.channels} channels within the map.`,
    );
  }
}

/**
 * out[b, y, x, :] = rows[gridIndex[b, y, x], :] where the index is ≥ 0, else the mask token (or 0 when
 * `token` is null: the zero-fill ablation).
 */
export function densifyForward(
  gpu: Gpu,
  dims: DensifyDims,
  out: GpuTensor,
  rows: GpuTensor,
  gridIndex: GpuTensor,
  token: GpuTensor | null,
): PreparedDispatch {
  const label = 'densify.forward';
  check(label, dims, out, rows, gridIndex);
  if (token && token.length !== dims.channels) {
    throw new RangeError(`${label}: the mask token has ${token.length} values, expected ${dims.channels}.`);
  }
  const pixels = dims.batch * dims.height * dims.width;
  return gpu.prepare({
    kernel: kernel(gpu, 'densify_forward'),
    buffers: [out, rows, gridIndex, token ?? absentBinding(gpu)],
    params: params(pixels, dims.channels, 0, token !== null, false),
    workgroups: grid1d(Math.ceil((pixels * dims.channels) / 256)),
  });
}

/**
 * dRows = dOut at visible pixels (written, or added with `accumulateRows`); dToken += Σ of dOut over every
 * masked pixel of the batch (partials per slice of pixels + fixed-order reduce). Pass `dToken: null` for the
 * zero-fill ablation.
 */
export function densifyBackward(
  gpu: Gpu,
  dims: DensifyDims,
  dRows: GpuTensor,
  dOut: GpuTensor,
  gridIndex: GpuTensor,
  dToken: GpuTensor | null,
  options: { accumulateRows?: boolean } = {},
): PreparedSequence {
  const label = 'densify.backward';
  check(label, dims, dOut, dRows, gridIndex);
  const pixels = dims.batch * dims.height * dims.width;
  const dispatches: PreparedDispatch[] = [
    gpu.prepare({
      kernel: kernel(gpu, 'densify_backward_rows'),
      buffers: [dRows, dOut, gridIndex],
      params: params(pixels, dims.channels, 0, false, !!options.accumulateRows),
      workgroups: grid1d(Math.ceil((pixels * dims.channels) / 256)),
    }),
  ];
  const scratch: GpuTensor[] = [];
  if (dToken) {
    if (dToken.length !== dims.channels) {
      throw new RangeError(
        `${label}: the mask-token gradient has ${dToken.length} values, expected ${dims.channels}.`,
      );
    }
    const channelGroups = Math.ceil(dims.channels / 64);
    const { slices, rowsPerSlice } = chooseSlices(channelGroups / 4, pixels);
    const partials = gpu.tensor(`${label}.token_partials`, [slices, dims.channels]);
    scratch.push(partials);
    dispatches.push(
      gpu.prepare({
        kernel: kernel(gpu, 'token_partials'),
        buffers: [partials, dOut, gridIndex],
        params: params(pixels, dims.channels, rowsPerSlice, true, false),
        workgroups: [channelGroups, slices, 1],
      }),
      reduceSlices(gpu, dToken, partials, dims.channels, slices, true),
    );
  }
  return new PreparedSequence(label, dispatches, scratch, gpu);
}
