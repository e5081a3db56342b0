/**
 * CI smoke of the step benchmark and its profiler (bench/step.ts, bench/profile-step.ts): the functions the
 * CLI and the page call, on the tiny preset at batch 2 with one timed step, checked for the shape of their
 * JSON lines. No timing is asserted (a software adapter on shared cores); the dispatch count and the FLOP
 * ratio are. Plus the profiler's pure helpers: kind classification and workgroup sizes read from WGSL.
 */
import { describe, expect, it } from 'vitest';
import { dispatchKind, runStepProfile, workgroupSize } from '../../bench/profile-step';
import { runStepBench, type StepBenchLine } from '../../bench/step';
import { testGpu } from '../../tests/gpu';
import { preset } from '../models/presets';
import { countFlops } from '../train/flops';

describe('npm run bench -- step (smoke)', () => {
  // sparse and dense-masked only: each encoder compiles its own pipelines, the CI cost of this test.
  it('prints one line per (preset, ratio) with both encoders timed, bytes, dispatches and ratios', async () => {
    const gpu = await testGpu();
    const printed: StepBenchLine[] = [];
    const lines = await runStepBench(gpu, {
      presets: ['tiny'],
      batch: 2,
      ratios: [0.6],
      steps: 1,
      rounds: 1,
      warmup: 0,
      modes: ['sparse', 'dense-masked'],
      emit: (line) => printed.push(line),
    });
    expect(printed).toEqual(lines);
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line).toMatchObject({
      case: 'step',
      preset: 'tiny',
      batch: 2,
      maskRatio: 0.6,
      adapter: gpu.label,
    });
    for (const key of [
      'sparseMs',
      'denseMs',
      'denseZeroMs',
      'sparseBytes',
      'denseBytes',
      'denseZeroBytes',
    ] as const)
      expect(line[key], key).toBeGreaterThan(0);
    expect(line.timeRatio).toBeCloseTo(line.sparseMs! / line.denseMs!, 2);
    // tiny's FLOPs at 0.6 from the counter itself: encoder × 6/16 visible cells, decoder whole.
    const flops = countFlops({ ...preset('tiny'), maskRatio: 0.6 });
    expect(line.flopRatio).toBeCloseTo(
      (flops.encoderDense * 6) / 16 / flops.dense + flops.decoder / flops.dense,
      3,
    );
    expect(line.timeRatioTarget).toBeCloseTo(1 - 0.8 * (1 - line.flopRatio), 3);
    expect(line.meetsTarget).toBe(line.timeRatio! <= line.timeRatioTarget);
    expect(line.dispatches).toBeGreaterThan(100);
    expect(line.denseDispatches).toBeGreaterThan(100);
    expect(JSON.parse(JSON.stringify(line))).toEqual(line);
  }, 240_000);

  it('the profiler times every dispatch of a step and its empty-kernel replay, by kind and by layer', async () => {
    const gpu = await testGpu();
    const [line] = await runStepProfile(gpu, {
      presets: ['tiny'],
      batch: 2,
      rounds: 1,
      emitProfile: () => {},
    });
    expect(line).toMatchObject({ case: 'step-profile', preset: 'tiny', encoder: 'sparse', batch: 2 });
    const sum = (rows: { dispatches: number }[]) => rows.reduce((s, r) => s + r.dispatches, 0);
    expect(sum(line.byKind)).toBe(line.dispatches);
    expect(sum(line.byLayer)).toBe(line.dispatches);
    expect(line.unknownWorkgroupSize).toBe(0);
    expect(line.otherLabels).toEqual([]);
    for (const kind of ['GEMM fwd', 'GEMM dX', 'GEMM dW', 'BN', 'optimiser', 'guard', 'loss', 'densify'])
      expect(line.byKind.map((r) => r.key)).toContain(kind);
    expect(line.byLayer.map((r) => r.key)).toContain('sparse_encoder.sp_cnn.conv1');
  }, 240_000);

  it('classifies kernels by label and phase, and reads workgroup sizes through overrides', () => {
    expect(dispatchKind('conv2d.forward', 'forward:x')).toBe('GEMM fwd');
    expect(dispatchKind('conv2d.forward', 'backward:x')).toBe('GEMM dX');
    expect(dispatchKind('sparse.grad_weight', 'backward:x')).toBe('GEMM dW');
    expect(dispatchKind('batchnorm.stats', 'forward:x')).toBe('BN');
    expect(dispatchKind('optim.lamb', 'optimizer')).toBe('optimiser');
    const code = `override TILE: u32 = 32u;\noverride TM: u32 = 4;\noverride WG: u32 = TILE / TM;
@compute @workgroup_size(WG, 2 * WG) fn main() {}\n@compute @workgroup_size(256) fn other() {}`;
    expect(workgroupSize({ code, entryPoint: 'main' })).toEqual([8, 16, 1]);
    expect(workgroupSize({ code, entryPoint: 'main', constants: { TILE: 64 } })).toEqual([16, 32, 1]);
    expect(workgroupSize({ code, entryPoint: 'other' })).toEqual([256, 1, 1]);
    expect(workgroupSize({ code, entryPoint: 'missing' })).toBeNull();
  });
});
