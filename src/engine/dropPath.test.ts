import { describe, expect, it } from 'vitest';
import { runAndRead, testGpu } from '../../tests/gpu';
import { assertClose } from '../reference/allclose';
import { dropPathNchw, dropPathRows } from '../reference/dropPath';
import { Tape, Tensor } from '../reference/spark/tape';
import { randomMask } from '../sparse/mask';
import { buildSiteSet, packPositions } from '../sparse/sites';
import { Rng } from '../util/random';
import { dropPathBackward, dropPathForward } from './dropPath';

/** Factors of `blocks` blocks for `images` images each: a mix of dropped (0) and kept (1 / keep) images. */
function someFactors(rng: Rng, blocks: number, images: number): Float32Array {
  const f = new Float32Array(blocks * images);
  for (let i = 0; i < f.length; i++) f[i] = rng.floats(1, 0, 1)[0] < 0.4 ? 0 : 1 / 0.7;
  return f;
}

describe('drop path kernel (shaders/drop_path.wgsl) vs its float64 twin', () => {
  it('sparse rows: each row takes its image from the packed position (uneven visible counts), forward and backward', async () => {
    const gpu = await testGpu();
    const rng = new Rng(3);
    // Grids and channel counts around 256-thread workgroup edges; masks keep different counts per image.
    for (const [batch, grid, side, channels, ratio] of [
      [1, 2, 1, 1, 0.5],
      [3, 4, 2, 7, 0.6],
      [5, 3, 4, 33, 0.3],
      [2, 7, 1, 257, 0.9],
    ] as const) {
      const mask = randomMask(batch, grid, grid, ratio, new Rng(batch * 17 + grid));
      const sites = buildSiteSet(mask, side);
      const imageOfRow = Array.from({ length: sites.rows }, (_, r) => sites.coords[r * 3]);
      const blocks = 3;
      const factors = someFactors(rng, blocks, batch);
      const block = 2;
      const x = rng.normals(sites.rows * channels);
      const dy = rng.normals(sites.rows * channels);
      const tx = gpu.upload('x', x);
      const tdy = gpu.upload('dy', dy);
      const tf = gpu.upload('factors', factors);
      const tpos = gpu.upload('positions', packPositions(sites));
      const ty = gpu.tensor('y', [sites.rows, channels]);
      const tdx = gpu.tensor('dx', [sites.rows, channels]);
      const common = {
        rows: sites.rows,
        channels,
        scales: tf,
        scaleOffset: block * batch,
        images: batch,
        rowImages: { positions: tpos },
      };
      const y = await runAndRead(gpu, 'dp', [dropPathForward(gpu, { ...common, out: ty, x: tx })], ty);
      const dx = await runAndRead(gpu, 'dp', [dropPathBackward(gpu, { ...common, dx: tdx, dy: tdy })], tdx);
      const own = factors.subarray(block * batch, (block + 1) * batch);
      const label = `B${batch} g${grid} side${side} C${channels}`;
      assertClose(y, dropPathRows(x, channels, imageOfRow, own), { rtol: 1e-7, atol: 0, label });
      assertClose(dx, dropPathRows(dy, channels, imageOfRow, own), { rtol: 1e-7, atol: 0, label });
      // A dropped image's rows are exactly 0 (±0: the branch's sign survives the product).
      for (let r = 0; r < sites.rows; r++)
        if (own[imageOfRow[r]] === 0) expect(Math.abs(y[r * channels])).toBe(0);
      for (const t of [tx, tdy, tf, tpos, ty, tdx]) gpu.releaseTensor(t);
    }
  });

  it('dense NHWC rows (dense-zero encoder): image = row / (H·W), including a 2-D dispatch grid', async () => {
    const gpu = await testGpu();
    const rng = new Rng(5);
    for (const [batch, hw, channels] of [
      [1, 1, 1],
      [4, 9, 5],
      [3, 64 * 64, 23],
    ] as const) {
      const rows = batch * hw;
      const factors = someFactors(rng, 1, batch);
      const x = rng.normals(rows * channels);
      const tx = gpu.upload('x', x);
      const tf = gpu.upload('factors', factors);
      const ty = gpu.tensor('y', [rows, channels]);
      const op = dropPathForward(gpu, {
        rows,
        channels,
        scales: tf,
        scaleOffset: 0,
        images: batch,
        rowImages: { rowsPerImage: hw },
        out: ty,
        x: tx,
      });
      const y = await runAndRead(gpu, 'dp', [op], ty);
      const imageOfRow = Array.from({ length: rows }, (_, r) => Math.floor(r / hw));
      assertClose(y, dropPathRows(x, channels, imageOfRow, factors), {
        rtol: 1e-7,
        atol: 0,
        label: `B${batch} HW${hw} C${channels}`,
      });
      for (const t of [tx, tf, ty]) gpu.releaseTensor(t);
    }
  });

  it('refuses operands that do not fit with a sentence', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor('x', [4, 2]);
    const f = gpu.tensor('f', [2]);
    const base = { rows: 4, channels: 2, out: x, x, scales: f, images: 2 };
    expect(() => dropPathForward(gpu, { ...base, scaleOffset: 1, rowImages: { rowsPerImage: 2 } })).toThrow(
      /lie outside f/,
    );
    expect(() => dropPathForward(gpu, { ...base, scaleOffset: 0, rowImages: { rowsPerImage: 3 } })).toThrow(
      /are not 2 images of 3 rows/,
    );
    gpu.releaseTensor(x);
    gpu.releaseTensor(f);
  });

  it('the NCHW twin (reference model) has the finite-difference gradient of Σ w·out', () => {
    const rng = new Rng(11);
    const shape = [3, 2, 3, 3];
    const x = Float64Array.from(rng.normals(54));
    const w = Float64Array.from(rng.normals(54));
    const factors = [0, 1 / 0.75, 1 / 0.75];
    const objective = (data: Float64Array) => {
      const out = dropPathNchw(new Tape(false), new Tensor(shape, data), factors);
      return out.data.reduce((s, v, i) => s + v * w[i], 0);
    };
    const tape = new Tape(true);
    const input = new Tensor(shape, Float64Array.from(x));
    const out = dropPathNchw(tape, input, factors);
    out.gradBuffer().set(w);
    // Run the recorded backward by seeding a scalar that depends on nothing else: backward from `out`.
    const scalar = Tensor.zeros([1]);
    tape.record(scalar, () => {});
    tape.backward(scalar);
    const h = 1e-6;
    for (let i = 0; i < x.length; i++) {
      const plus = Float64Array.from(x);
      const minus = Float64Array.from(x);
      plus[i] += h;
      minus[i] -= h;
      const numeric = (objective(plus) - objective(minus)) / (2 * h);
      expect(input.grad![i]).toBeCloseTo(numeric, 6);
    }
    // Image 0 was dropped: no gradient reaches it.
    expect(input.grad!.subarray(0, 18).every((v) => v === 0)).toBe(true);
  });
});
