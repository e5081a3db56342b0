import eltwiseFile from '../../shaders/eltwise.wgsl?raw';
import gridSource from '../../shaders/lib/grid.wgsl?raw';
import { bindingLayout, type Gpu, type GpuTensor, grid1d, type PreparedDispatch } from '../gpu/runtime';
import { composeShader, uniformStruct } from '../gpu/shader';

/** n elements; alpha, beta the factors of scale_add (1 elsewhere, unused). */
const EltwiseParams = uniformStruct(
  'EltwiseParams',
  { n: 'u32', alpha: 'f32', beta: 'f32' },
  { alpha: 1, beta: 1 },
);

/** Every elementwise entry point: one output and up to two inputs (unary forwards leave `b` absent). */
const EltwiseLayout = bindingLayout('eltwise', {
  out: 'write', // the result
  a: 'read', // the first operand, or the forward input x of an activation
  b: 'read', // the second operand, dy of an activation's backward, or the zeros buffer (unary forward)
});

/** eltwise.wgsl composed with its uniforms and the grid indexing library. */
const eltwiseSource = composeShader(EltwiseParams.wgsl, gridSource, eltwiseFile);

export type UnaryOp = 'relu' | 'relu6' | 'gelu';
export type BinaryOp = 'add' | 'mul';

const UNARY_ENTRY: Record<UnaryOp, string> = { relu: 'relu', relu6: 'relu6', gelu: 'gelu_forward' };

function checkSameLength(label: string, ...tensors: GpuTensor[]): number {
  const n = tensors[0].length;
  for (const t of tensors) {
    if (t.length !== n) throw new RangeError(`${label}: ${t.label} has ${t.length} elements, expected ${n}`);
  }
  return n;
}

function eltwiseDispatch(
  gpu: Gpu,
  entryPoint: string,
  buffers: GpuTensor[],
  n: number,
  alpha = 1,
  beta = 1,
): PreparedDispatch {
  const kernel = gpu.kernel({
    label: `eltwise.${entryPoint}`,
    code: eltwiseSource,
    entryPoint,
    layout: EltwiseLayout,
  });
  return gpu.prepare({
    kernel,
    buffers,
    params: EltwiseParams.pack({ n, alpha, beta }),
    workgroups: grid1d(Math.ceil(n / 256)),
  });
}

/** out = a (+|*) b. */
export function binaryForward(
  gpu: Gpu,
  op: BinaryOp,
  out: GpuTensor,
  a: GpuTensor,
  b: GpuTensor,
): PreparedDispatch {
  const n = checkSameLength(`eltwise.${op}`, out, a, b);
  return eltwiseDispatch(gpu, op, [out, a, b], n);
}

/** out = alpha·a + beta·b (in-place on b is allowed: out may be b only if a differs). */
export function scaleAdd(
  gpu: Gpu,
  out: GpuTensor,
  a: GpuTensor,
  b: GpuTensor,
  alpha: number,
  beta: number,
): PreparedDispatch {
  const n = checkSameLength('eltwise.scale_add', out, a, b);
  return eltwiseDispatch(gpu, 'scale_add', [out, a, b], n, alpha, beta);
}

/** out = f(x) for ReLU, ReLU6 or GELU (erf-accurate). */
export function unaryForward(gpu: Gpu, op: UnaryOp, out: GpuTensor, x: GpuTensor): PreparedDispatch {
  const n = checkSameLength(`eltwise.${op}`, out, x);
  return eltwiseDispatch(gpu, UNARY_ENTRY[op], [out, x, gpu.absentInput], n);
}

/** dx = dy · f'(x), with x the forward input. */
export function unaryBackward(
  gpu: Gpu,
  op: UnaryOp,
  dx: GpuTensor,
  x: GpuTensor,
  dy: GpuTensor,
): PreparedDispatch {
  const n = checkSameLength(`eltwise.${op}_backward`, dx, x, dy);
  return eltwiseDispatch(gpu, `${op}_backward`, [dx, x, dy], n);
}
