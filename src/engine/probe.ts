/**
 * Kernels of the downstream probe (shaders/probe.wgsl; twins in src/reference/probe.ts):
 *
 *   globalAvgPool(gpu, { out, x, batch, hw, channels, stride?, offset? })   out[b, offset + c] = mean_p x[b, p, c]
 *   globalAvgPoolBackward(gpu, { dx, dy, … })                               dx[b, p, c] = dy[b, offset + c] / hw
 *   softmaxXent(gpu, { stats, logits, labels, rows, classes })              stats[r] = (loss_r, correct_r)
 *   softmaxXentBackward(gpu, { dlogits, logits, labels, rows, classes, scale })
 *   xentSummary(gpu, { summary, stats, rows })                              summary = (mean loss, Σ correct)
 *
 * Pooling reads NHWC maps ([B, H, W, C] = [B, hw, C]); with `stride` > `channels` several scales write side
 * by side into one row (the concatenated feature). Accuracy is Σ correct / rows of the summary.
 */
import probeSource from '../../shaders/probe.wgsl?raw';
import { bindingLayout, type Gpu, type GpuTensor, grid1d, type PreparedDispatch } from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';

/**
 * gap: batch, hw (positions per image), channels, stride (floats per output row), offset (first column).
 * xent: batch = rows, channels = classes; scale = the gradient factor.
 */
const ProbeParams = uniformStruct('ProbeParams', {
  batch: 'u32',
  hw: 'u32',
  channels: 'u32',
  stride: 'u32',
  offset: 'u32',
  scale: 'f32',
});
const probeModule = composeShader(ProbeParams.wgsl, probeSource);

/** Pooling and the loss summary: one output, one input. */
const PoolLayout = bindingLayout('probe.pool', {
  dst: 'write', // pooled features, dx, or the summary
  src: 'read', // feature maps, dy, or the per-row statistics
});
/** The classifier loss: logits and their labels. */
const XentLayout = bindingLayout('probe.xent', {
  dst: 'write', // per-row (loss, correct), or dlogits
  src: 'read', // logits [rows, classes]
  labels: 'read', // [rows] u32
});

function kernel(gpu: Gpu, entryPoint: string) {
  const layout = entryPoint.startsWith('xent_') && entryPoint !== 'xent_summary' ? XentLayout : PoolLayout;
  return gpu.kernel({ label: `probe.${entryPoint}`, code: probeModule, entryPoint, layout });
}

function params(batch: number, hw: number, channels: number, stride: number, offset: number, scale: number) {
  return ProbeParams.pack({ batch, hw, channels, stride, offset, scale });
}

function positive(label: string, values: Record<string, number>): void {
  for (const [name, value] of Object.entries(values))
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`${label}: ${name} must be a positive integer, got ${value}.`);
}

function need(label: string, t: GpuTensor, count: number, what: string): void {
  if (t.length < count)
    throw new RangeError(`${label}: ${t.label} has ${t.length} elements but ${what} needs ${count}.`);
}

export interface PoolShape {
  batch: number;
  /** Positions per image (H·W). */
  hw: number;
  channels: number;
  /** Floats per output row (default `channels`); larger when several scales are concatenated. */
  stride?: number;
  /** First output column of this map (default 0). */
  offset?: number;
}

function poolGeometry(label: string, shape: PoolShape) {
  const { batch, hw, channels } = shape;
  const stride = shape.stride ?? channels;
  const offset = shape.offset ?? 0;
  positive(label, { batch, hw, channels, stride });
  if (!Number.isInteger(offset) || offset < 0 || offset + channels > stride)
    throw new RangeError(
      `${label}: columns ${offset}..${offset + channels - 1} do not fit in rows of ${stride} floats.`,
    );
  return { batch, hw, channels, stride, offset };
}

/** Global average pooling of an NHWC map into (a column range of) [batch, stride] rows. */
export function globalAvgPool(
  gpu: Gpu,
  options: PoolShape & { out: GpuTensor; x: GpuTensor },
): PreparedDispatch {
  const g = poolGeometry('probe.globalAvgPool', options);
  need('probe.globalAvgPool', options.x, g.batch * g.hw * g.channels, 'the input map');
  need('probe.globalAvgPool', options.out, g.batch * g.stride, 'the pooled rows');
  return gpu.prepare({
    kernel: kernel(gpu, 'gap_forward'),
    buffers: [options.out, options.x],
    params: params(g.batch, g.hw, g.channels, g.stride, g.offset, 1 / g.hw),
    workgroups: grid1d(Math.ceil((g.batch * g.channels) / 256)),
  });
}

/** The gradient of `globalAvgPool` with respect to its input map (written). */
export function globalAvgPoolBackward(
  gpu: Gpu,
  options: PoolShape & { dx: GpuTensor; dy: GpuTensor },
): PreparedDispatch {
  const g = poolGeometry('probe.globalAvgPoolBackward', options);
  need('probe.globalAvgPoolBackward', options.dx, g.batch * g.hw * g.channels, 'the input map gradient');
  need('probe.globalAvgPoolBackward', options.dy, g.batch * g.stride, 'the pooled-row gradient');
  return gpu.prepare({
    kernel: kernel(gpu, 'gap_backward'),
    buffers: [options.dx, options.dy],
    params: params(g.batch, g.hw, g.channels, g.stride, g.offset, 1 / g.hw),
    workgroups: grid1d(Math.ceil((g.batch * g.hw * g.channels) / 256)),
  });
}

export interface XentShape {
  rows: number;
  classes: number;
  logits: GpuTensor;
  /** u32 class indices [rows], each below `classes` (a larger label reads out of the row: not checked). */
  labels: GpuTensor;
}

function xentCheck(label: string, o: XentShape): void {
  positive(label, { rows: o.rows, classes: o.classes });
  need(label, o.logits, o.rows * o.classes, 'the logits');
  need(label, o.labels, o.rows, 'the labels');
}

/** Per row: the cross-entropy loss and whether the arg-max is the label → stats [rows, 2]. */
export function softmaxXent(gpu: Gpu, options: XentShape & { stats: GpuTensor }): PreparedDispatch {
  xentCheck('probe.softmaxXent', options);
  need('probe.softmaxXent', options.stats, options.rows * 2, 'two stats per row');
  return gpu.prepare({
    kernel: kernel(gpu, 'xent_forward'),
    buffers: [options.stats, options.logits, options.labels],
    params: params(options.rows, 1, options.classes, options.classes, 0, 1),
    workgroups: grid1d(Math.ceil(options.rows / 256)),
  });
}

/** dlogits = scale · (softmax(logits) − onehot(labels)); scale 1/rows is the gradient of the mean loss. */
export function softmaxXentBackward(
  gpu: Gpu,
  options: XentShape & { dlogits: GpuTensor; scale: number },
): PreparedDispatch {
  xentCheck('probe.softmaxXentBackward', options);
  need('probe.softmaxXentBackward', options.dlogits, options.rows * options.classes, 'the logit gradient');
  return gpu.prepare({
    kernel: kernel(gpu, 'xent_backward'),
    buffers: [options.dlogits, options.logits, options.labels],
    params: params(options.rows, 1, options.classes, options.classes, 0, options.scale),
    workgroups: grid1d(Math.ceil(options.rows / 256)),
  });
}

/** summary[0] = mean loss, summary[1] = number of correct rows, summed in a fixed order. */
export function xentSummary(
  gpu: Gpu,
  options: { summary: GpuTensor; stats: GpuTensor; rows: number },
): PreparedDispatch {
  positive('probe.xentSummary', { rows: options.rows });
  need('probe.xentSummary', options.stats, options.rows * 2, 'two stats per row');
  need('probe.xentSummary', options.summary, 2, 'the summary');
  return gpu.prepare({
    kernel: kernel(gpu, 'xent_summary'),
    buffers: [options.summary, options.stats],
    params: params(options.rows, 1, 2, 2, 0, 1),
    workgroups: [1],
  });
}
