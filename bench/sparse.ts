/**
 * `npm run bench -- sparse [--batch N] [--iterations N] [--case NAME] [--ratios 0,0.6]`: forward+backward time of the gathered sparse layers
 * vs the dense zero-masked baseline (what the official code runs: dense conv then × mask, BN statistics over
 * visible pixels) at mask ratios 0 … 0.9 on a 7×7 cell grid (224-px input, stride 32), in one run.
 *
 * Per line: case, maskRatio, sparseMs, denseMs, timeRatio (sparse/dense), flopRatio (sparse/dense FLOPs of the
 * kernels as launched), memRatio (activation + activation-gradient bytes, sparse incl. its neighbour maps /
 * dense incl. its mask), adapter, plus the shape. Batch defaults to 8, and to 1 on a software adapter (the
 * realistic sizes take minutes per case there); the line records the batch used.
 */
import { fusedBatchNormBackward, fusedBatchNormTrain } from '../src/engine/batchnorm-fused';
import {
  type Conv2dShape,
  conv2dBackwardBias,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  type Encodable,
  type GpuCellMask,
} from '../src/engine/conv2d';
import {
  sparseConvBackward,
  sparseConvForward,
  sparseDepthwiseBackward,
  sparseDepthwiseForward,
} from '../src/engine/sparseConv';
import type { Gpu, GpuTensor } from '../src/gpu/runtime';
import { expandMask, lenKeep, randomMask } from '../src/sparse/mask';
import { buildNeighbourMaps, buildSiteSet, SparsePyramid } from '../src/sparse/sites';
import { Rng } from '../src/util/random';
import { argValue, emit, median, timeDispatches } from './harness';

const RATIOS = [0, 0.25, 0.5, 0.6, 0.75, 0.9];
const GRID = 7;

interface Case {
  name: string;
  kind: 'conv' | 'depthwise' | 'bn';
  channels: number;
  size: number;
  kernel: number;
}

const CASES: Case[] = [
  { name: 'conv3x3', kind: 'conv', channels: 64, size: 56, kernel: 3 },
  { name: 'conv3x3', kind: 'conv', channels: 128, size: 28, kernel: 3 },
  { name: 'dwconv7x7', kind: 'depthwise', channels: 96, size: 56, kernel: 7 },
  { name: 'bn', kind: 'bn', channels: 64, size: 56, kernel: 1 },
];

function filled(gpu: Gpu, label: string, n: number, rng: Rng): GpuTensor {
  return gpu.upload(label, rng.floats(n));
}

/**
 * CPU cost of the site sets and neighbour maps of a ResNet-50 pyramid at 224 px (7×7 cells, batch 8 unless
 * --batch, mask 0.6): every geometry the encoder uses, built once per mask and shared by all layers.
 */
function measureMaps(batch: number): Record<string, unknown> {
  const mask = randomMask(batch, GRID, GRID, 0.6, 99);
  // [input side, output side, kernel, stride, padding]: stem, max-pool, 3×3 per scale, strided 3×3 and 1×1.
  const geometries: [number, number, number, number, number][] = [
    [32, 16, 7, 2, 3],
    [16, 8, 3, 2, 1],
    [8, 8, 3, 1, 1],
    [8, 4, 3, 2, 1],
    [8, 4, 1, 2, 0],
    [4, 4, 3, 1, 1],
    [4, 2, 3, 2, 1],
    [4, 2, 1, 2, 0],
    [2, 2, 3, 1, 1],
    [2, 1, 3, 2, 1],
    [2, 1, 1, 2, 0],
    [1, 1, 3, 1, 1],
  ];
  const t0 = performance.now();
  const sets = new Map<number, ReturnType<typeof buildSiteSet>>();
  for (const side of [32, 16, 8, 4, 2, 1]) sets.set(side, buildSiteSet(mask, side));
  const setsMs = performance.now() - t0;
  let mapsMs = 0;
  let mapBytes = 0;
  for (const [i, o, kernel, stride, padding] of geometries) {
    // The stem reads the image, which needs no gradient: no transposed map there.
    const maps = buildNeighbourMaps(
      sets.get(i)!,
      sets.get(o)!,
      { kernel, stride, padding },
      { transposed: i !== 32 },
    );
    mapsMs += maps.buildMs;
    mapBytes += (maps.forward.length + maps.transposed.length) * 4;
  }
  return {
    case: 'maps',
    model: 'resnet50-224',
    batch,
    maskRatio: 0.6,
    siteSetsMs: +setsMs.toFixed(2),
    neighbourMapsMs: +mapsMs.toFixed(2),
    geometries: geometries.length,
    mapBytes,
  };
}

export default async function run(gpu: Gpu, args: string[]): Promise<void> {
  const batch = Number(argValue(args, 'batch') ?? (gpu.summary.isSoftware ? 1 : 8));
  const iterations = Number(argValue(args, 'iterations') ?? (gpu.summary.isSoftware ? 3 : 20));
  const only = argValue(args, 'case');
  // A subset of the mask ratios, for quick before/after checks on a slow adapter.
  const ratios = argValue(args, 'ratios')?.split(',').map(Number) ?? RATIOS;
  if (ratios.some((r) => !(r >= 0 && r < 1)))
    throw new RangeError(
      `--ratios takes comma-separated mask ratios in [0, 1), got ${argValue(args, 'ratios')}.`,
    );
  const rng = new Rng(1);
  if (!only || only === 'maps')
    emit({ ...measureMaps(Number(argValue(args, 'batch') ?? 8)), adapter: 'cpu (node)' });
  for (const c of CASES) {
    if (only && c.name !== only) continue;
    const side = c.size / GRID;
    const C = c.channels;
    const taps = c.kernel * c.kernel;
    const pixels = batch * c.size * c.size;
    // Dense baseline tensors (shared by every ratio; only the mask changes).
    const dense = {
      x: filled(gpu, 'x', pixels * C, rng),
      y: gpu.tensor('y', [pixels * C]),
      dy: filled(gpu, 'dy', pixels * C, rng),
      dx: gpu.tensor('dx', [pixels * C]),
    };
    const weight = filled(gpu, 'w', c.kind === 'conv' ? taps * C * C : taps * C, rng);
    const dWeight = gpu.tensor('dw', [weight.length]);
    const bias = filled(gpu, 'b', C, rng);
    const dBias = gpu.tensor('db', [C]);
    const dGamma = gpu.tensor('dg', [C]);
    const statsMean = gpu.upload('rm', new Float32Array(C));
    const statsVar = gpu.upload('rv', new Float32Array(C).fill(1));
    const saved = gpu.tensor('bn.saved', [3, C]);
    for (const ratio of ratios) {
      const mask = randomMask(batch, GRID, GRID, ratio, 1234);
      const keep = lenKeep(GRID, GRID, ratio);
      const cellMask = gpu.upload('mask', Float32Array.from(mask.cells));
      const gpuMask: GpuCellMask = {
        tensor: cellMask,
        kind: 'f32',
        gridH: GRID,
        gridW: GRID,
        cellH: side,
        cellW: side,
      };
      const pixelMask = gpu.upload('pixel mask', expandMask(mask, side));
      const pyramid = new SparsePyramid(gpu, mask);
      const rows = pyramid.scale(side).rows;
      const sp = {
        x: filled(gpu, 'sx', rows * C, rng),
        y: gpu.tensor('sy', [rows * C]),
        dy: filled(gpu, 'sdy', rows * C, rng),
        dx: gpu.tensor('sdx', [rows * C]),
      };
      let sparseOps: Encodable[];
      let denseOps: Encodable[];
      let mapBytes = 0;
      if (c.kind === 'bn') {
        const common = {
          channels: C,
          gamma: bias,
          beta: bias,
          runningMean: statsMean,
          runningVar: statsVar,
          saved,
        };
        sparseOps = [
          fusedBatchNormTrain(gpu, { ...common, rows, y: sp.y, x: sp.x }),
          fusedBatchNormBackward(gpu, {
            ...common,
            rows,
            dx: sp.dx,
            dy: sp.dy,
            x: sp.x,
            dGamma,
            dBeta: dBias,
          }),
        ];
        denseOps = [
          fusedBatchNormTrain(gpu, { ...common, rows: pixels, rowMask: pixelMask, y: dense.y, x: dense.x }),
          fusedBatchNormBackward(gpu, {
            ...common,
            rows: pixels,
            rowMask: pixelMask,
            dx: dense.dx,
            dy: dense.dy,
            x: dense.x,
            dGamma,
            dBeta: dBias,
          }),
        ];
      } else {
        const geometry = { kernel: c.kernel, stride: 1, padding: (c.kernel - 1) / 2 };
        // Conv: neighbour maps (k² i32 per row, forward + transposed). Depthwise: the scale's grid index
        // and row positions instead (no 49-wide map).
        const scale = pyramid.gpuScale(side);
        const where = { scale, kernel: c.kernel, padding: geometry.padding };
        const maps = c.kind === 'conv' ? pyramid.neighbours(side, side, geometry) : undefined;
        mapBytes = maps
          ? (maps.forward.length + maps.transposed.length) * 4
          : (scale.gridIndex.length + scale.positions.length) * 4;
        const shape: Conv2dShape = {
          batch,
          inH: c.size,
          inW: c.size,
          inC: C,
          outC: C,
          kernelH: c.kernel,
          kernelW: c.kernel,
          strideH: 1,
          strideW: 1,
          padH: geometry.padding,
          padW: geometry.padding,
          depthwise: c.kind === 'depthwise',
        };
        if (maps) {
          // ResNet 3×3 convs have no bias (a BN follows).
          sparseOps = [
            sparseConvForward(gpu, { maps, cin: C, cout: C, y: sp.y, x: sp.x, weight }),
            sparseConvBackward(gpu, {
              maps,
              cin: C,
              cout: C,
              dx: sp.dx,
              dy: sp.dy,
              x: sp.x,
              weight,
              dWeight,
            }),
          ];
          denseOps = [
            conv2dForward(gpu, shape, dense.y, dense.x, weight, { mask: gpuMask }),
            conv2dBackwardInput(gpu, shape, dense.dx, dense.dy, weight, { mask: gpuMask }),
            conv2dBackwardWeight(gpu, shape, dWeight, dense.x, dense.dy, { mask: gpuMask }),
          ];
        } else {
          sparseOps = [
            sparseDepthwiseForward(gpu, { ...where, channels: C, y: sp.y, x: sp.x, weight, bias }),
            sparseDepthwiseBackward(gpu, {
              ...where,
              channels: C,
              dx: sp.dx,
              dy: sp.dy,
              x: sp.x,
              weight,
              dWeight,
              dBias,
            }),
          ];
          denseOps = [
            conv2dForward(gpu, shape, dense.y, dense.x, weight, { mask: gpuMask, bias }),
            conv2dBackwardInput(gpu, shape, dense.dx, dense.dy, weight, { mask: gpuMask }),
            conv2dBackwardWeight(gpu, shape, dWeight, dense.x, dense.dy, { mask: gpuMask }),
            conv2dBackwardBias(gpu, shape, dBias, dense.dy, { mask: gpuMask }),
          ];
        }
      }
      // Sparse and dense iterations alternate (each after one warm-up), so that load drift on a shared
      // machine hits both alike; the medians are compared.
      const recordSparse = (pass: GPUComputePassEncoder) => {
        for (const op of sparseOps) op.encode(pass);
      };
      const recordDense = (pass: GPUComputePassEncoder) => {
        for (const op of denseOps) op.encode(pass);
      };
      const sparseSamples: number[] = [];
      const denseSamples: number[] = [];
      let source = '';
      for (let i = 0; i < iterations; i++) {
        const once = { warmup: i === 0 ? 1 : 0, iterations: 1 };
        const st = await timeDispatches(gpu, `${c.name}.sparse`, recordSparse, once);
        const dt = await timeDispatches(gpu, `${c.name}.dense`, recordDense, once);
        sparseSamples.push(st.ms);
        denseSamples.push(dt.ms);
        source = st.source;
      }
      const sparseTime = { ms: median(sparseSamples), source };
      const denseTime = { ms: median(denseSamples), source };
      // Activation bytes: input, output and both gradients (4 tensors of C channels per site).
      const sparseBytes = 4 * rows * C * 4 + mapBytes;
      const denseBytes = 4 * pixels * C * 4 + cellMask.length * 4;
      emit({
        case: c.name,
        kind: c.kind,
        channels: C,
        size: c.size,
        batch,
        maskRatio: ratio,
        keptCells: keep,
        sparseMs: +sparseTime.ms.toFixed(3),
        denseMs: +denseTime.ms.toFixed(3),
        timeRatio: +(sparseTime.ms / denseTime.ms).toFixed(3),
        // The kernels launch all taps for every active output (missing neighbours read as 0), so FLOPs scale
        // with the active row count: the ratio is rows / pixels for conv, depthwise and BN alike.
        flopRatio: +(rows / pixels).toFixed(3),
        memRatio: +(sparseBytes / denseBytes).toFixed(3),
        mapBytes,
        timing: sparseTime.source,
        adapter: gpu.label,
      });
      for (const op of [...sparseOps, ...denseOps]) op.release();
      for (const t of [...Object.values(sp), cellMask, pixelMask]) gpu.releaseTensor(t);
      pyramid.release();
    }
    for (const t of [
      ...Object.values(dense),
      weight,
      dWeight,
      bias,
      dBias,
      dGamma,
      statsMean,
      statsVar,
      saved,
    ])
      gpu.releaseTensor(t);
  }
}
