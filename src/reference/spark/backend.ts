/**
 * The float64 CPU reference as a parity backend: eval forward, train forward + backward, one LAMB step,
 * in the order the fixture README prescribes.
 */
import type { ParityFixture } from '../../io/fixtures';
import type { ParityBackend, ParityResults } from '../../io/parity';
import { sparkState } from '../../models/official-names';
import { lambStep } from './lamb';
import { SparkReference } from './model';
import { Tensor } from './tape';

function fixtureGrad(fixture: ParityFixture, name: string): Float64Array {
  const grad = fixture.expected.get(`train/grad/${name}`);
  if (!grad)
    throw new Error(`${fixture.fileName} has no expected/train/grad/${name} to run the LAMB step with.`);
  return grad.data;
}

export function runReferenceOnFixture(fixture: ParityFixture): ParityResults {
  const state = new Map<string, Float64Array>();
  for (const [name, t] of fixture.state) state.set(name, t.data);
  const model = new SparkReference(fixture.config.spark, state);
  const input = new Tensor(fixture.input.shape, fixture.input.data, 'input');
  const evaluation = model.evaluate(input, fixture.mask.data);
  const train = model.trainStep(input, fixture.mask.data);
  const entries = sparkState(fixture.config.spark);
  const params = entries
    .filter((e) => e.kind === 'param')
    .map((e) => ({
      name: e.name,
      value: Float64Array.from(state.get(e.name)!),
      // The LAMB stage is checked on the fixture's gradients ("using the grads above", fixture README): the
      // first LAMB step is g/(|g| + 1e-6) per element, which turns the ~1e-5 relative float32 noise of
      // gradients near 1e-6 into O(1) update differences, so feeding our own float64 gradients would test
      // the conditioning of LAMB rather than the optimiser. Our gradients are compared separately above.
      // Parameters the model does not use keep `grad = null` (PyTorch's None), so LAMB skips them.
      grad: train.unused.has(e.name) ? null : fixtureGrad(fixture, e.name),
      decay: e.decay,
    }));
  const { lamb } = fixture.config;
  lambStep(params, {
    lr: lamb.lr,
    weightDecay: lamb.weightDecay,
    betas: lamb.betas,
    eps: lamb.eps,
    maxGradNorm: lamb.maxGradNorm,
  });
  return {
    eval: { loss: evaluation.loss, masked: evaluation.masked, recOrInp: evaluation.recOrInp },
    train: {
      loss: train.loss,
      features: train.features.map((f) => f.data),
      decoderOut: train.decoderOut.data,
      buffers: new Map(model.buffers),
      grads: train.grads,
    },
    lamb: new Map(params.map((p) => [p.name, p.value])),
  };
}

export const cpuReferenceBackend: ParityBackend = {
  name: 'cpu',
  run: async (fixture) => runReferenceOnFixture(fixture),
};
