/**
 * The parity check against the official SparK code. A backend (the float64 CPU reference now, the GPU model
 * later) turns a fixture into results; `compareWithFixture` checks every expected tensor with the fixture
 * README's tolerances:
 *   - tensors: max|R − T| ≤ 1e-3 · max|T| + 1e-6;
 *   - losses: |R − T| ≤ 1e-4 · |T| + 1e-6;
 *   - LAMB: the update (after − before) compared the same way as tensors, relative to the update's largest
 *     magnitude, so a wrong step cannot hide inside a large weight.
 */
import type { ParityFixture } from './fixtures';

export interface ParityResults {
  eval: { loss: number; masked: ArrayLike<number>; recOrInp: ArrayLike<number> };
  train: {
    loss: number;
    /** Encoder outputs, largest resolution first, NCHW with 0 at masked sites. */
    features: ArrayLike<number>[];
    decoderOut: ArrayLike<number>;
    /** BN buffers after the train forward, official names (num_batches_tracked as a number). */
    buffers: Map<string, ArrayLike<number>>;
    /** Gradients in the official layout, zeros for unused parameters. */
    grads: Map<string, ArrayLike<number>>;
  };
  /** Parameters after one LAMB step from a fresh optimiser, official layout. */
  lamb: Map<string, ArrayLike<number>>;
}

export interface ParityBackend {
  readonly name: string;
  run(fixture: ParityFixture): Promise<ParityResults>;
}

export const TENSOR_RTOL = 1e-3;
export const LOSS_RTOL = 1e-4;
export const ABS_FLOOR = 1e-6;

export interface TensorComparison {
  /** The expected tensor's name without `expected/`, e.g. `train/grad/dense_decoder.proj.weight`. */
  name: string;
  ok: boolean;
  maxAbsError: number;
  /** maxAbsError / max|T| (max|T| of the update for LAMB). */
  relError: number;
  message?: string;
}

export interface FixtureReport {
  fileName: string;
  ok: boolean;
  comparisons: TensorComparison[];
  /** The comparison with the largest relative error. */
  worst: TensorComparison;
}

function compare(
  name: string,
  actual: ArrayLike<number> | undefined,
  expected: ArrayLike<number>,
  rtol: number,
): TensorComparison {
  if (!actual)
    return {
      name,
      ok: false,
      maxAbsError: Infinity,
      relError: Infinity,
      message: 'the backend produced no such tensor',
    };
  if (actual.length !== expected.length)
    return {
      name,
      ok: false,
      maxAbsError: Infinity,
      relError: Infinity,
      message: `the backend produced ${actual.length} values, expected ${expected.length}`,
    };
  let maxAbs = 0;
  let maxExpected = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    // NaN anywhere is a failure, never silently "smaller than" the bound; an infinite expected value must be
    // matched exactly and must not widen the bound (rtol · ∞) for every other element.
    const exactOnly = !Number.isFinite(e) || !Number.isFinite(a);
    const err = exactOnly ? (a === e ? 0 : Infinity) : Math.abs(a - e);
    maxAbs = Math.max(maxAbs, err);
    if (Number.isFinite(e)) maxExpected = Math.max(maxExpected, Math.abs(e));
  }
  const ok = maxAbs <= rtol * maxExpected + ABS_FLOOR;
  return { name, ok, maxAbsError: maxAbs, relError: maxExpected > 0 ? maxAbs / maxExpected : maxAbs };
}

function difference(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] - b[i];
  return out;
}

/** Compares every expected tensor of the fixture with the backend's results. */
export function compareWithFixture(fixture: ParityFixture, results: ParityResults): FixtureReport {
  const comparisons: TensorComparison[] = [];
  for (const [name, expected] of fixture.expected) {
    const e = expected.data;
    let c: TensorComparison;
    if (name === 'eval/loss') c = compare(name, [results.eval.loss], e, LOSS_RTOL);
    else if (name === 'train/loss') c = compare(name, [results.train.loss], e, LOSS_RTOL);
    else if (name === 'eval/masked') c = compare(name, results.eval.masked, e, TENSOR_RTOL);
    else if (name === 'eval/rec_or_inp') c = compare(name, results.eval.recOrInp, e, TENSOR_RTOL);
    else if (name === 'train/decoder_out') c = compare(name, results.train.decoderOut, e, TENSOR_RTOL);
    else if (name.startsWith('train/features/'))
      c = compare(name, results.train.features[Number(name.slice('train/features/'.length))], e, TENSOR_RTOL);
    else if (name.startsWith('train/buffers/'))
      c = compare(name, results.train.buffers.get(name.slice('train/buffers/'.length)), e, TENSOR_RTOL);
    else if (name.startsWith('train/grad/'))
      c = compare(name, results.train.grads.get(name.slice('train/grad/'.length)), e, TENSOR_RTOL);
    else if (name.startsWith('lamb/param/')) {
      const param = name.slice('lamb/param/'.length);
      const before = fixture.state.get(param);
      const after = results.lamb.get(param);
      c =
        before && after
          ? compare(
              `${name} (update)`,
              difference(after, before.data),
              difference(e, before.data),
              TENSOR_RTOL,
            )
          : compare(name, undefined, e, TENSOR_RTOL);
    } else
      c = { name, ok: false, maxAbsError: Infinity, relError: Infinity, message: 'unknown expected tensor' };
    comparisons.push(c);
  }
  if (comparisons.length === 0)
    comparisons.push({
      name: '(none)',
      ok: false,
      maxAbsError: Infinity,
      relError: Infinity,
      message: 'the fixture has no expected tensors',
    });
  // A failing tensor is always "worse" than a passing one; among equals, the larger relative error.
  const worst = comparisons.reduce((a, b) =>
    a.ok !== b.ok ? (a.ok ? b : a) : b.relError > a.relError ? b : a,
  );
  return { fileName: fixture.fileName, ok: comparisons.every((c) => c.ok), comparisons, worst };
}
