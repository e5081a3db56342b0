import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/random';
import { assertClose, numericGradient } from '../allclose';
import {
  type Active,
  activation,
  activeAt,
  add,
  type BatchNormState,
  batchNorm,
  conv2d,
  convTranspose2d,
  fillMasked,
  layerNorm,
  maskMultiply,
  maxPool,
  pointwiseLinear,
  scaleChannels,
  sparkLoss,
} from './layers';
import { Tape, Tensor } from './tape';

function randomTensor(rng: Rng, shape: number[], label: string, scale = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(shape, Float64Array.from(rng.normals(n, scale)), label);
}

/**
 * Checks every input's hand-written gradient against central finite differences of the scalar
 * L = Σ out · R (R fixed random), which exercises the backward with a non-uniform upstream gradient.
 */
function checkGradients(
  seed: number,
  inputs: Tensor[],
  forward: (tape: Tape, inputs: Tensor[]) => Tensor,
  rtol = 1e-6,
): void {
  const rng = new Rng(seed);
  const probe = forward(new Tape(false), inputs);
  const weights = Float64Array.from(rng.normals(probe.data.length));
  const scalar = () => {
    const out = forward(new Tape(false), inputs);
    let s = 0;
    for (let i = 0; i < out.data.length; i++) s += out.data[i] * weights[i];
    return s;
  };
  for (const t of inputs) t.grad = null;
  const tape = new Tape(true);
  const out = forward(tape, inputs);
  const seedGrad = new Tensor([1], new Float64Array(1));
  // Route the weighted sum's gradient into `out`, then run the tape.
  tape.record(seedGrad, () => {
    const g = out.gradBuffer();
    for (let i = 0; i < g.length; i++) g[i] += weights[i];
  });
  tape.backward(seedGrad);
  for (const t of inputs) {
    const original = Float64Array.from(t.data);
    const numeric = numericGradient(
      (x) => {
        t.data.set(x);
        return scalar();
      },
      Float64Array.from(original),
      1e-5,
    );
    // numericGradient restores only its own copy; the tensor still holds the last perturbation.
    t.data.set(original);
    const analytic = t.grad ?? new Float64Array(t.data.length);
    assertClose(analytic, numeric, { rtol, atol: 1e-7, label: `d/d${t.label}` });
  }
}

function cellsFor(rng: Rng, batch: number, grid: number, visible: number): Uint8Array {
  const cells = new Uint8Array(batch * grid * grid);
  for (let b = 0; b < batch; b++) {
    const order = Array.from({ length: grid * grid }, (_, i) => i).sort(() => rng.next() - 0.5);
    for (let i = 0; i < visible; i++) cells[b * grid * grid + order[i]] = 1;
  }
  return cells;
}

function bnState(rng: Rng, c: number): BatchNormState {
  return {
    weight: randomTensor(rng, [c], 'gamma'),
    bias: randomTensor(rng, [c], 'beta'),
    runningMean: Float64Array.from(rng.normals(c)),
    runningVar: Float64Array.from(rng.floats(c, 0.5, 2)),
    tracked: { value: 0 },
  };
}

describe('reference SparK layers: forward definitions', () => {
  it('conv2d equals the direct sum definition (3×3/s2/p1 on 1×2×5×5 → 3 channels)', () => {
    const rng = new Rng(1);
    const x = randomTensor(rng, [1, 2, 5, 5], 'x');
    const w = randomTensor(rng, [3, 2, 3, 3], 'w');
    const b = randomTensor(rng, [3], 'b');
    const y = conv2d(new Tape(false), x, w, b, { stride: 2, pad: 1 });
    expect(y.shape).toEqual([1, 3, 3, 3]);
    // out[0, 1, 1, 2]: input rows 1..3, columns 3..5 (5 is padding).
    let expected = b.data[1];
    for (let ci = 0; ci < 2; ci++)
      for (let ky = 0; ky < 3; ky++)
        for (let kx = 0; kx < 3; kx++) {
          const iy = 1 * 2 - 1 + ky;
          const ix = 2 * 2 - 1 + kx;
          if (ix < 5) expected += w.data[((1 * 2 + ci) * 3 + ky) * 3 + kx] * x.data[(ci * 5 + iy) * 5 + ix];
        }
    expect(y.data[(1 * 3 + 1) * 3 + 2]).toBeCloseTo(expected, 12);
  });

  it('convTranspose 4×4/s2/p1 doubles the size and scatters each input with its kernel', () => {
    const x = new Tensor([1, 1, 2, 2], Float64Array.of(0, 0, 0, 1)); // one unit at (1, 1)
    const w = new Tensor(
      [1, 1, 4, 4],
      Float64Array.from({ length: 16 }, (_, i) => i + 1),
    );
    const y = convTranspose2d(new Tape(false), x, w, null, { stride: 2, pad: 1 });
    expect(y.shape).toEqual([1, 1, 4, 4]);
    // Input (1,1) lands at output (2·1 − 1 + ky, 2·1 − 1 + kx) = (1 + ky, 1 + kx) for ky, kx with in-range rows.
    for (let oy = 0; oy < 4; oy++)
      for (let ox = 0; ox < 4; ox++) {
        const ky = oy - 1;
        const kx = ox - 1;
        const expected = ky >= 0 && kx >= 0 ? ky * 4 + kx + 1 : 0;
        expect(y.data[oy * 4 + ox]).toBe(expected);
      }
  });

  it('sparse BN uses only active sites, writes 0 elsewhere and updates running stats with the unbiased variance', () => {
    const x = new Tensor([1, 1, 2, 2], Float64Array.of(1, 100, 3, -50));
    const active = Uint8Array.of(1, 0, 1, 0);
    const bn: BatchNormState = {
      weight: new Tensor([1], Float64Array.of(2)),
      bias: new Tensor([1], Float64Array.of(0.5)),
      runningMean: Float64Array.of(0),
      runningVar: Float64Array.of(1),
      tracked: { value: 3 },
    };
    const y = batchNorm(new Tape(false), x, active, bn, true);
    // Active values 1 and 3: mean 2, biased var 1, unbiased var 2.
    const inv = 1 / Math.sqrt(1 + 1e-5);
    expect(Array.from(y.data)).toEqual([2 * -1 * inv + 0.5, 0, 2 * 1 * inv + 0.5, 0]);
    expect(bn.runningMean[0]).toBeCloseTo(0.2, 15);
    expect(bn.runningVar[0]).toBeCloseTo(0.9 + 0.2, 15);
    expect(bn.tracked.value).toBe(4);
  });

  it('sparse LN normalises each active site over channels (eps 1e-6) and zeroes masked sites', () => {
    const x = new Tensor([1, 2, 1, 2], Float64Array.of(1, 5, 3, 7));
    const w = new Tensor([2], Float64Array.of(1, 1));
    const b = new Tensor([2], Float64Array.of(0, 0));
    const y = layerNorm(new Tape(false), x, Uint8Array.of(1, 0), w, b);
    const inv = 1 / Math.sqrt(1 + 1e-6);
    expect(y.data[0]).toBeCloseTo(-inv, 14);
    expect(y.data[2]).toBeCloseTo(inv, 14);
    expect(y.data[1]).toBe(0);
    expect(y.data[3]).toBe(0);
  });

  it('activeAt repeats each cell r×r times', () => {
    const a = activeAt(Uint8Array.of(1, 0, 0, 1), 1, 2, 4);
    expect(Array.from(a)).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]);
    expect(() => activeAt(Uint8Array.of(1, 0, 0, 1), 1, 2, 5)).toThrow(/not a whole number of cells/);
  });

  it('the loss normalises each patch by its mean and unbiased std and averages masked patches only', () => {
    // One image, 1×1... use a 2×2 grid of 1-pixel patches with 3 channels: 3 values per patch.
    const input = new Tensor(
      [1, 3, 2, 2],
      Float64Array.from({ length: 12 }, (_, i) => (i * 7) % 5),
    );
    const rec = new Tensor([1, 3, 2, 2], new Float64Array(12));
    const cells = Uint8Array.of(1, 0, 0, 1);
    const { loss } = sparkLoss(new Tape(false), rec, input, {
      patch: 1,
      cells,
      normalizeTarget: true,
      maskedOnly: true,
    });
    // With rec = 0 the per-patch loss is mean(t²) = (n − 1)/n · var_u/(var_u + 1e-6) for n = 3 values.
    let expected = 0;
    for (const l of [1, 2]) {
      const v = [0, 1, 2].map((c) => input.data[c * 4 + l]);
      const mu = (v[0] + v[1] + v[2]) / 3;
      const varU = v.reduce((s, x) => s + (x - mu) ** 2, 0) / 2;
      expected += ((2 / 3) * varU) / (varU + 1e-6);
    }
    expect(loss.data[0]).toBeCloseTo(expected / (2 + 1e-8), 12);
  });
});

describe('reference SparK layers: backward vs central finite differences', () => {
  it('conv2d (random shapes, strides, pads, groups; fast-check)', () => {
    fc.assert(
      fc.property(
        fc.record({
          n: fc.integer({ min: 1, max: 2 }),
          groups: fc.constantFrom(1, 2),
          cinPerGroup: fc.integer({ min: 1, max: 2 }),
          coutPerGroup: fc.integer({ min: 1, max: 2 }),
          size: fc.integer({ min: 3, max: 6 }),
          k: fc.constantFrom(1, 2, 3),
          stride: fc.constantFrom(1, 2),
          pad: fc.integer({ min: 0, max: 1 }),
          bias: fc.boolean(),
          seed: fc.nat(),
        }),
        (s) => {
          const rng = new Rng(s.seed);
          const x = randomTensor(rng, [s.n, s.cinPerGroup * s.groups, s.size, s.size], 'x');
          const w = randomTensor(rng, [s.coutPerGroup * s.groups, s.cinPerGroup, s.k, s.k], 'w');
          const inputs = [x, w];
          if (s.bias) inputs.push(randomTensor(rng, [s.coutPerGroup * s.groups], 'b'));
          checkGradients(s.seed, inputs, (t, [xi, wi, bi]) =>
            conv2d(t, xi, wi, bi ?? null, { stride: s.stride, pad: s.pad, groups: s.groups }),
          );
        },
      ),
      { numRuns: 25 },
    );
  });

  it('pointwise linear (ConvNeXt pwconv; 2×3×2×3 → 5 channels)', () => {
    const rng = new Rng(5);
    const x = randomTensor(rng, [2, 3, 2, 3], 'x');
    const w = randomTensor(rng, [5, 3], 'w');
    const b = randomTensor(rng, [5], 'b');
    checkGradients(9, [x, w, b], (t, [xi, wi, bi]) => pointwiseLinear(t, xi, wi, bi));
  });

  it('convTranspose2d 4×4/s2/p1 and 2×2/s2/p0 (1×3×3×3 → 2 channels)', () => {
    const rng = new Rng(7);
    for (const [k, pad] of [
      [4, 1],
      [2, 0],
    ]) {
      const x = randomTensor(rng, [1, 3, 3, 3], 'x');
      const w = randomTensor(rng, [3, 2, k, k], 'w');
      const b = randomTensor(rng, [2], 'b');
      checkGradients(k, [x, w, b], (t, [xi, wi, bi]) => convTranspose2d(t, xi, wi, bi, { stride: 2, pad }));
    }
  });

  it('sparse batch norm in training (2×3×4×4, 2×2 grid, one or several visible cells) and dense batch norm', () => {
    const rng = new Rng(11);
    for (const visible of [1, 3]) {
      const active: Active = activeAt(cellsFor(rng, 2, 2, visible), 2, 2, 4);
      const x = randomTensor(rng, [2, 3, 4, 4], 'x');
      const state = bnState(rng, 3);
      checkGradients(visible, [x, state.weight, state.bias], (t, [xi]) =>
        batchNorm(
          t,
          xi,
          active,
          { ...state, runningMean: new Float64Array(3), runningVar: new Float64Array(3) },
          true,
        ),
      );
    }
    const x = randomTensor(rng, [2, 2, 3, 3], 'x');
    const state = bnState(rng, 2);
    checkGradients(5, [x, state.weight, state.bias], (t, [xi]) =>
      batchNorm(
        t,
        xi,
        null,
        { ...state, runningMean: new Float64Array(2), runningVar: new Float64Array(2) },
        true,
      ),
    );
  });

  it('sparse layer norm (2×5×4×4 with a 2×2 grid) and dense layer norm', () => {
    const rng = new Rng(13);
    const active = activeAt(cellsFor(rng, 2, 2, 2), 2, 2, 4);
    const x = randomTensor(rng, [2, 5, 4, 4], 'x');
    const w = randomTensor(rng, [5], 'w');
    const b = randomTensor(rng, [5], 'b');
    checkGradients(1, [x, w, b], (t, [xi, wi, bi]) => layerNorm(t, xi, active, wi, bi));
    checkGradients(2, [x, w, b], (t, [xi, wi, bi]) => layerNorm(t, xi, null, wi, bi));
  });

  it('GELU, ReLU and ReLU6 (values kept away from the kinks of ReLU/ReLU6)', () => {
    const rng = new Rng(17);
    const x = randomTensor(rng, [1, 2, 3, 3], 'x', 3);
    // Finite differences across a kink are wrong by design; nudge values off 0 and 6.
    for (let i = 0; i < x.data.length; i++)
      if (Math.abs(x.data[i]) < 1e-3 || Math.abs(x.data[i] - 6) < 1e-3) x.data[i] += 0.01;
    checkGradients(1, [x], (t, [xi]) => activation(t, xi, 'gelu'));
    checkGradients(2, [x], (t, [xi]) => activation(t, xi, 'relu'));
    const big = new Tensor([1, 1, 1, 4], Float64Array.of(-1, 2, 7, 5.5), 'x');
    checkGradients(3, [big], (t, [xi]) => activation(t, xi, 'relu6'));
  });

  it('max-pool 3×3/s2/p1 (distinct values), mask multiply, mask-token fill, channel scale, add', () => {
    const rng = new Rng(19);
    const x = new Tensor([1, 2, 5, 5], Float64Array.from(rng.normals(50)), 'x');
    checkGradients(1, [x], (t, [xi]) => maxPool(t, xi, 3, 2, 1));
    const active = activeAt(Uint8Array.of(1, 0, 0, 1), 1, 2, 4);
    const y = randomTensor(rng, [1, 3, 4, 4], 'y');
    const token = randomTensor(rng, [1, 3, 1, 1], 'token');
    const scale = randomTensor(rng, [3], 'scale');
    const z = randomTensor(rng, [1, 3, 4, 4], 'z');
    checkGradients(2, [y], (t, [yi]) => maskMultiply(t, yi, active));
    checkGradients(3, [y, token], (t, [yi, ti]) => fillMasked(t, yi, active, ti));
    checkGradients(4, [y], (t, [yi]) => fillMasked(t, yi, active, null));
    checkGradients(5, [y, scale], (t, [yi, si]) => scaleChannels(t, yi, si));
    checkGradients(6, [y, z], (t, [yi, zi]) => add(t, yi, zi));
  });

  it('the loss: per-patch normalised or raw target, masked or all patches (2×3×4×4, patch 2)', () => {
    const rng = new Rng(23);
    const input = randomTensor(rng, [2, 3, 4, 4], 'input');
    const cells = cellsFor(rng, 2, 2, 2);
    for (const normalizeTarget of [true, false])
      for (const maskedOnly of [true, false]) {
        const rec = randomTensor(rng, [2, 3, 4, 4], 'rec');
        checkGradients(1, [rec], (t, [ri]) => {
          const { loss } = sparkLoss(t, ri, input, { patch: 2, cells, normalizeTarget, maskedOnly });
          return loss;
        });
      }
  });
});
