/**
 * `npm run bench -- step --profile [--presets a,b] [--batch N] [--ratios 0.6] [--modes sparse] [--rounds N]`
 * (also `npm run bench -- profile-step …`): where a training step's time goes. One step of each preset is
 * recorded dispatch by dispatch (the runtime's onDispatch hook, with the layer each came from), then replayed
 * with every dispatch in a compute pass of its own between two timestamp queries, `rounds` times (median per
 * dispatch). The same list is replayed once more with empty kernels (same workgroup size and grid, no
 * bindings): that is the cost of launching the dispatch and its workgroups, and measured − empty is the
 * kernel's own work. Results aggregate by kind (GEMM fwd / dX / dW, BN, LN, elementwise, reduce, pool,
 * optimiser, guard, densify, loss, layout) and by layer.
 *
 * Timestamps: the Node host turns Dawn's timestamp quantisation off (src/gpu/node.ts:
 * `disable-dawn-features=timestamp_quantization`; with it on, stamps are multiples of 2^16 ns ≈ 66 µs). In
 * Chromium the same needs `--enable-dawn-features=allow_unsafe_apis --disable-dawn-features=timestamp_quantization`;
 * each result line reports the finest stamp step it saw (`resolutionNs`).
 *
 * Replaying a recorded step runs its kernels again on the buffers as they are (parameters move by one more
 * optimiser step, gradients accumulate): the timings are the point, not the numbers.
 */
import { bindingLayout, type Gpu, type KernelSpec, type PreparedDispatch } from '../src/gpu/runtime';
import type { EncoderMode, SparkConfig } from '../src/models/config';
import { PRESETS, preset } from '../src/models/presets';
import { median } from './harness';
import { benchTrainer, type StepBenchOptions, syntheticDataset } from './step';

export type DispatchKind =
  | 'GEMM fwd'
  | 'GEMM dX'
  | 'GEMM dW'
  | 'bias grad'
  | 'BN'
  | 'LN'
  | 'elementwise'
  | 'reduce'
  | 'pool'
  | 'optimiser'
  | 'guard'
  | 'densify'
  | 'loss'
  | 'layout'
  | 'other';

/** The kind of a dispatch from its kernel label and the phase (scope) it was encoded in. */
export function dispatchKind(label: string, scope: string): DispatchKind {
  const l = label.toLowerCase();
  if (scope === 'optimizer') return 'optimiser';
  if (scope === 'guard' || l.includes('guard')) return 'guard';
  if (l.includes('loss') || l.includes('composite')) return 'loss';
  if (l.includes('densify') || l.includes('scatter')) return 'densify';
  if (l.includes('batchnorm')) return 'BN';
  if (l.includes('layernorm')) return 'LN';
  if (l.includes('pool')) return 'pool';
  if (l.includes('transpose') && !l.includes('conv')) return 'layout';
  if (l.includes('backward_bias') || l.includes('bias_grad')) return 'bias grad';
  if (l.includes('reduce') || l.includes('column') || l.includes('sum')) return 'reduce';
  if (l.includes('eltwise') || l.includes('remask')) return 'elementwise';
  if (l.includes('weight') || l.includes('wgrad') || l.includes('grad_w')) return 'GEMM dW';
  if (l.includes('input') || l.includes('dx') || l.includes('grad_in')) return 'GEMM dX';
  if (
    l.includes('conv') ||
    l.includes('gemm') ||
    l.includes('matmul') ||
    l.includes('depthwise') ||
    l.includes('dw_')
  )
    return scope.startsWith('backward') ? 'GEMM dX' : 'GEMM fwd';
  return 'other';
}

interface Recorded {
  dispatch: PreparedDispatch;
  scope: string;
}

/**
 * The workgroup size of a pipeline's entry point, read from its WGSL: literals, and consts or overrides
 * (their pipeline constants first, else their declared default expression, evaluated recursively).
 */
export function workgroupSize(
  spec: Pick<KernelSpec, 'code' | 'entryPoint' | 'constants'> | undefined,
): [number, number, number] | null {
  if (!spec) return null;
  const entry = new RegExp(`@workgroup_size\\(([^)]*)\\)\\s*fn\\s+${spec.entryPoint}\\s*\\(`);
  const m = spec.code.match(entry);
  if (!m) return null;
  const evaluate = (expression: string, depth: number): number | null => {
    if (depth > 8) return null;
    let failed = false;
    const substituted = expression.replace(/[A-Za-z_]\w*|\d+u?/g, (token) => {
      if (/^\d/.test(token)) return token.replace(/u$/, '');
      const constant = spec.constants?.[token];
      if (constant !== undefined) return `(${Number(constant)})`;
      const declared = spec.code.match(
        new RegExp(`(?:override|const)\\s+${token}\\s*(?::\\s*\\w+)?\\s*=\\s*([^;]+);`),
      );
      const value = declared ? evaluate(declared[1], depth + 1) : null;
      if (value === null) failed = true;
      return `(${value})`;
    });
    if (failed || !/^[\d\s()+\-*/]+$/.test(substituted)) return null;
    // Integer arithmetic as WGSL's u32 (the sizes divide exactly, so flooring the result is enough).
    const value = Number(Function(`"use strict"; return (${substituted});`)());
    return Number.isFinite(value) ? Math.floor(value) : null;
  };
  const dims = m[1]
    .split(',')
    .filter((s) => s.trim() !== '')
    .map((d) => evaluate(d, 0));
  if (dims.length === 0 || dims.some((d) => d === null || d < 1)) return null;
  return [dims[0] ?? 1, dims[1] ?? 1, dims[2] ?? 1] as [number, number, number];
}

/** Times each encode callback in a pass of its own; returns nanoseconds per callback and the stamp step. */
async function timePasses(
  gpu: Gpu,
  encodes: ((pass: GPUComputePassEncoder) => void)[],
): Promise<{ ns: number[]; resolutionNs: number }> {
  const chunk = 2048;
  const ns: number[] = [];
  let resolutionNs = Number.POSITIVE_INFINITY;
  for (let start = 0; start < encodes.length; start += chunk) {
    const part = encodes.slice(start, start + chunk);
    const querySet = gpu.device.createQuerySet({ type: 'timestamp', count: 2 * part.length });
    const resolve = gpu.device.createBuffer({ size: 16 * part.length, usage: 0x200 | 0x04 });
    const encoder = gpu.device.createCommandEncoder({ label: 'profile' });
    // An untimed pass first: the first pass of a command buffer also pays for starting it.
    encoder.beginComputePass().end();
    part.forEach((encode, i) => {
      const pass = encoder.beginComputePass({
        timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
      });
      encode(pass);
      pass.end();
    });
    encoder.resolveQuerySet(querySet, 0, 2 * part.length, resolve, 0);
    gpu.device.queue.submit([encoder.finish()]);
    const stamps = new BigUint64Array(await gpu.readBytes(resolve, 0, 16 * part.length));
    for (let i = 0; i < part.length; i++) {
      const d = Number(stamps[2 * i + 1] - stamps[2 * i]);
      ns.push(Math.max(0, d));
      if (d > 0) resolutionNs = Math.min(resolutionNs, d);
    }
    for (let i = 1; i < stamps.length; i++) {
      const step = Number(stamps[i] - stamps[i - 1]);
      if (step > 0) resolutionNs = Math.min(resolutionNs, step);
    }
    querySet.destroy();
    resolve.destroy();
  }
  return { ns, resolutionNs };
}

/** No bindings at all: the empty kernel reads nothing. */
const EMPTY_LAYOUT = bindingLayout('profile.empty', {}, { uniforms: false });

/** An empty kernel of the given workgroup size (cached per size): the replay's launch-only twin. */
function emptyPipeline(gpu: Gpu, size: [number, number, number]): GPUComputePipeline {
  return gpu.kernel({
    label: `profile.empty.${size.join('x')}`,
    code: `@compute @workgroup_size(${size.join(', ')}) fn empty() {}`,
    entryPoint: 'empty',
    layout: EMPTY_LAYOUT,
  }).pipeline;
}

export interface ProfileRow {
  key: string;
  dispatches: number;
  /** Median per-dispatch times summed, milliseconds. */
  ms: number;
  /** The same dispatches with empty kernels (launch overhead), milliseconds. */
  emptyMs: number;
}

export interface StepProfileLine {
  case: 'step-profile';
  preset: string;
  encoder: EncoderMode;
  batch: number;
  maskRatio: number;
  dispatches: number;
  /** Sum over dispatches of their median pass time. */
  totalMs: number;
  emptyMs: number;
  /** The whole step in one pass (the trainer's wall time per step, for scale). */
  stepWallMs: number;
  byKind: ProfileRow[];
  byLayer: ProfileRow[];
  /** Dispatches whose workgroup size could not be read (replayed empty at 64 threads). */
  unknownWorkgroupSize: number;
  /** Kernel labels classified 'other' (to extend dispatchKind). */
  otherLabels: string[];
  resolutionNs: number;
  rounds: number;
  adapter: string;
}

function aggregate(
  recorded: Recorded[],
  ms: number[],
  emptyMs: number[],
  keyOf: (r: Recorded) => string,
): ProfileRow[] {
  const rows = new Map<string, ProfileRow>();
  recorded.forEach((r, i) => {
    const key = keyOf(r);
    const row = rows.get(key) ?? { key, dispatches: 0, ms: 0, emptyMs: 0 };
    row.dispatches++;
    row.ms += ms[i];
    row.emptyMs += emptyMs[i];
    rows.set(key, row);
  });
  return [...rows.values()]
    .map((row) => ({ ...row, ms: Number(row.ms.toFixed(3)), emptyMs: Number(row.emptyMs.toFixed(3)) }))
    .sort((a, b) => b.ms - a.ms);
}

export async function runStepProfile(
  gpu: Gpu,
  options: StepBenchOptions & { emitProfile?: (line: StepProfileLine) => void },
): Promise<StepProfileLine[]> {
  if (!gpu.hasTimestamps)
    throw new Error('The step profiler needs timestamp queries, which this adapter does not offer.');
  const rounds = options.rounds ?? 3;
  const maskRatio = options.ratios?.[0] ?? 0.6;
  const modes = options.modes ?? (['sparse'] as EncoderMode[]);
  const makeData = options.dataset ?? syntheticDataset;
  const emit = options.emitProfile ?? ((line: StepProfileLine) => console.log(JSON.stringify(line)));
  const lines: StepProfileLine[] = [];
  for (const name of options.presets) {
    if (!(name in PRESETS)) throw new Error(`Unknown preset "${name}".`);
    const batch = options.batch ?? 4;
    for (const encoder of modes) {
      const config: SparkConfig = { ...preset(name), maskRatio, encoder };
      const trainer = await benchTrainer(
        gpu,
        config,
        name,
        batch,
        (options.warmup ?? 2) + 1,
        makeData(config.inputSize),
      );
      try {
        await trainer.run(options.warmup ?? 2);
        const recorded: Recorded[] = [];
        gpu.onDispatch = (dispatch) => recorded.push({ dispatch, scope: gpu.dispatchScope });
        const wallStart = performance.now();
        try {
          await trainer.run(1);
        } finally {
          gpu.onDispatch = undefined;
        }
        const stepWallMs = performance.now() - wallStart;
        const encodeReal = recorded.map(
          ({ dispatch }) =>
            (pass: GPUComputePassEncoder) =>
              dispatch.encode(pass),
        );
        let unknownWorkgroupSize = 0;
        const encodeEmpty = recorded.map(({ dispatch }) => {
          let size = workgroupSize(gpu.pipelineSources.get(dispatch.pipeline));
          if (!size) {
            unknownWorkgroupSize++;
            size = [64, 1, 1];
          }
          const pipeline = emptyPipeline(gpu, size);
          const [x, y, z] = dispatch.workgroups;
          return (pass: GPUComputePassEncoder) => {
            pass.setPipeline(pipeline);
            pass.dispatchWorkgroups(x, y, z);
          };
        });
        const real: number[][] = recorded.map(() => []);
        const empty: number[][] = recorded.map(() => []);
        let resolutionNs = Number.POSITIVE_INFINITY;
        // The replay re-encodes recorded dispatches; they must not be counted or recorded again.
        const counted = gpu.dispatchCount;
        for (let r = 0; r < rounds; r++) {
          const a = await timePasses(gpu, encodeReal);
          const b = await timePasses(gpu, encodeEmpty);
          for (let i = 0; i < recorded.length; i++) {
            real[i].push(a.ns[i] / 1e6);
            empty[i].push(b.ns[i] / 1e6);
          }
          resolutionNs = Math.min(resolutionNs, a.resolutionNs, b.resolutionNs);
        }
        gpu.dispatchCount = counted;
        const ms = real.map(median);
        const emptyMs = empty.map(median);
        const layerOf = (r: Recorded) => r.scope.replace(/^(forward|backward):/, '') || '(unscoped)';
        const line: StepProfileLine = {
          case: 'step-profile',
          preset: name,
          encoder,
          batch,
          maskRatio,
          dispatches: recorded.length,
          totalMs: Number(ms.reduce((s, v) => s + v, 0).toFixed(2)),
          emptyMs: Number(emptyMs.reduce((s, v) => s + v, 0).toFixed(2)),
          stepWallMs: Number(stepWallMs.toFixed(1)),
          byKind: aggregate(recorded, ms, emptyMs, (r) => dispatchKind(r.dispatch.label, r.scope)),
          byLayer: aggregate(recorded, ms, emptyMs, layerOf),
          unknownWorkgroupSize,
          otherLabels: [
            ...new Set(
              recorded
                .filter((r) => dispatchKind(r.dispatch.label, r.scope) === 'other')
                .map((r) => r.dispatch.label),
            ),
          ],
          resolutionNs,
          rounds,
          adapter: gpu.label,
        };
        lines.push(line);
        emit(line);
      } finally {
        trainer.destroy();
      }
    }
  }
  return lines;
}

/** `npm run bench -- profile-step …` is `npm run bench -- step --profile …`. */
export default async function bench(gpu: Gpu, args: string[]): Promise<void> {
  const { default: step } = await import('./step');
  await step(gpu, [...args, '--profile']);
}
