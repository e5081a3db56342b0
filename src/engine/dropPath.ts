/**
 * Stochastic depth (drop path, timm semantics) on rows: each image's residual branch is either zeroed or
 * scaled by 1 / keep probability, one factor per image per block (the factors come from the host,
 * src/models/drop-path.ts, so a run replays from its seed and step). Kernel: shaders/drop_path.wgsl.
 * Twin: src/reference/dropPath.ts.
 */
import dropPathFile from '../../shaders/drop_path.wgsl?raw';
import gridSource from '../../shaders/lib/grid.wgsl?raw';
import { bindingLayout, type Gpu, type GpuTensor, grid1d, type PreparedDispatch } from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';
import { absentBinding } from './gemm';

export const DropPathParams = uniformStruct('DropPathParams', {
  rows: 'u32',
  channels: 'u32',
  scaleOffset: 'u32',
  sparseRows: 'u32',
  rowsPerImage: 'u32',
});

const DROP_PATH_LAYOUT = bindingLayout('drop_path', {
  out: 'write', // [rows, C] the branch after drop path (or dx)
  x: 'read', // [rows, C] the branch (or dy)
  scales: 'read', // per-image factors of every block
  positions: 'read', // [rows] packed positions of sparse rows, or the zeros buffer for dense rows
});

const dropPathModule = composeShader(DropPathParams.wgsl, gridSource, dropPathFile);

/**
 * How a row finds its image: compacted sparse rows carry it in their packed positions (u32 [rows], from
 * ModelSites.scale(side).positions); dense NHWC rows hold `rowsPerImage` = H·W rows per image.
 */
export type RowImages = { positions: GpuTensor } | { rowsPerImage: number };

export interface DropPathOperands {
  rows: number;
  channels: number;
  /** Output rows [rows, channels] (the branch after drop path, or dx in the backward). */
  out: GpuTensor;
  /** Input rows [rows, channels] (the branch, or dy in the backward). */
  x: GpuTensor;
  /** Per-image factors; this block's start at `scaleOffset` (a buffer holds every block's factors). */
  scales: GpuTensor;
  scaleOffset: number;
  images: number;
  rowImages: RowImages;
}

function prepareRowScale(gpu: Gpu, label: string, o: DropPathOperands): PreparedDispatch {
  const n = o.rows * o.channels;
  if (o.out.length < n || o.x.length < n)
    throw new RangeError(
      `${label}: ${o.rows} rows of ${o.channels} channels do not fit ${o.x.label} (${o.x.length}) or ${o.out.label} (${o.out.length}).`,
    );
  if (o.scaleOffset + o.images > o.scales.length)
    throw new RangeError(
      `${label}: factors ${o.scaleOffset}..${o.scaleOffset + o.images} lie outside ${o.scales.label} (${o.scales.length}).`,
    );
  const sparse = 'positions' in o.rowImages;
  if (sparse) {
    const { positions } = o.rowImages as { positions: GpuTensor };
    if (positions.length < o.rows)
      throw new RangeError(
        `${label}: ${positions.label} has ${positions.length} positions for ${o.rows} rows.`,
      );
  } else {
    const per = (o.rowImages as { rowsPerImage: number }).rowsPerImage;
    if (!Number.isInteger(per) || per < 1 || per * o.images !== o.rows)
      throw new RangeError(`${label}: ${o.rows} dense rows are not ${o.images} images of ${per} rows.`);
  }
  return gpu.prepare({
    kernel: gpu.kernel({
      label,
      code: dropPathModule,
      entryPoint: 'drop_path_rows',
      layout: DROP_PATH_LAYOUT,
    }),
    buffers: [
      o.out,
      o.x,
      o.scales,
      sparse ? (o.rowImages as { positions: GpuTensor }).positions : absentBinding(gpu),
    ],
    params: DropPathParams.pack({
      rows: o.rows,
      channels: o.channels,
      scaleOffset: o.scaleOffset,
      sparseRows: sparse,
      rowsPerImage: sparse ? 1 : (o.rowImages as { rowsPerImage: number }).rowsPerImage,
    }),
    workgroups: grid1d(Math.ceil(n / 256)),
  });
}

/** out = branch · factor of its image (0 for a dropped image, 1 / keep for a kept one). */
export function dropPathForward(gpu: Gpu, o: DropPathOperands): PreparedDispatch {
  return prepareRowScale(gpu, 'drop_path.forward', o);
}

/** dx = dy · factor of its image (the forward is diagonal: the same factors, the same kernel). */
export function dropPathBackward(
  gpu: Gpu,
  o: Omit<DropPathOperands, 'out' | 'x'> & { dx: GpuTensor; dy: GpuTensor },
): PreparedDispatch {
  const { dx, dy, ...rest } = o;
  return prepareRowScale(gpu, 'drop_path.backward', { ...rest, out: dx, x: dy });
}
