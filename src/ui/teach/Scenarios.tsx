/**
 * Guided comparisons of the paper's claims. Each scenario states what the paper reports (without numbers it
 * does not give here), lists the runs that test it on this small model, and sets the first one up; the
 * learner then looks whether this run agrees.
 */
import { useId, useState } from 'react';
import { useClient } from '../client-context';
import type { PlaygroundForm } from '../run-config';
import { useAppStore } from '../store';
import { PanelHelp } from './PanelHelp';

export interface ScenarioRun {
  label: string;
  /** Form fields set for this run (the rest keep their values). */
  form: Partial<PlaygroundForm>;
  /** Engine switches this run needs (named as in SparkConfig). */
  model?: Record<string, string>;
}

export interface Scenario {
  id: string;
  title: string;
  claim: string;
  lookAt: string;
  runs: ScenarioRun[];
}

const SHORT: Partial<PlaygroundForm> = {
  preset: 'tiny',
  dataset: 'fashion-mnist',
  batchSize: 8,
  steps: 300,
  seed: 0,
};

export const SCENARIOS: Scenario[] = [
  {
    id: 'why-sparse',
    title: 'Why sparse? zero-masking vs sparse encoding',
    claim:
      'The paper reports that encoding only the visible cells with sparse convolutions pre-trains a better convnet than filling the hidden cells with zeros and running it densely (its ablation measures this by ImageNet fine-tuning accuracy).',
    lookAt:
      'Compare the held-out loss of the two runs and the reconstructions; the fine-tuning result itself is not measured here.',
    runs: [
      { label: 'sparse encoder (SparK)', form: { ...SHORT, maskRatio: 0.6 }, model: { encoder: 'sparse' } },
      {
        label: 'dense, zero-filled holes',
        form: { ...SHORT, maskRatio: 0.6 },
        model: { encoder: 'dense-zero' },
      },
    ],
  },
  {
    id: 'mask-ratio',
    title: 'How much to hide? mask ratio 0.4 / 0.6 / 0.8',
    claim:
      'SparK hides 60 % of each image by default; the paper’s ablation found a high ratio works well for convnets, as for transformers.',
    lookAt:
      'Compare the reconstructions on the same held-out images and the loss at the shared reference ratio.',
    runs: [0.4, 0.6, 0.8].map((maskRatio) => ({
      label: `mask ratio ${maskRatio}`,
      form: { ...SHORT, maskRatio },
    })),
  },
  {
    id: 'tokens-pyramid',
    title: 'Do mask tokens and the pyramid matter?',
    claim:
      'The paper reports that filling hidden positions with learned mask tokens and decoding from every scale of the encoder (hierarchical decoding) beat zeros and single-scale decoding in its ablations.',
    lookAt: 'Compare the held-out loss and the sharpness of the reconstructions across the three runs.',
    runs: [
      { label: 'SparK (learned tokens, all scales)', form: { ...SHORT, maskRatio: 0.6 }, model: {} },
      {
        label: 'zeros instead of mask tokens',
        form: { ...SHORT, maskRatio: 0.6 },
        model: { maskToken: 'zeros' },
      },
      {
        label: 'coarsest scale only',
        form: { ...SHORT, maskRatio: 0.6 },
        model: { decoderInputs: 'coarsest' },
      },
    ],
  },
];

/** The form of one run of a scenario: its fields and its engine switches (the form's ablation fields). */
export function scenarioForm(run: ScenarioRun): PlaygroundForm {
  return { ...useAppStore.getState().form, ...run.form, ...(run.model as Partial<PlaygroundForm>) };
}

/** Sets the form to one run of a scenario. */
export function applyScenarioRun(run: ScenarioRun): void {
  useAppStore.getState().setForm(scenarioForm(run));
}

export function ScenarioPanel() {
  const client = useClient();
  const [chosen, setChosen] = useState<string>('');
  const id = useId();
  const scenario = SCENARIOS.find((s) => s.id === chosen);
  return (
    <section className="panel" aria-labelledby="scenario-title" data-testid="scenarios">
      <h2 id="scenario-title">Scenarios: test the paper’s claims</h2>
      <PanelHelp id="scenarios" />
      <label htmlFor={id}>
        <span>Scenario</span>
        <select
          id={id}
          data-testid="scenario-select"
          value={chosen}
          onChange={(e) => setChosen(e.target.value)}
        >
          <option value="">Choose a comparison…</option>
          {SCENARIOS.map((s) => (
            <option key={s.id} value={s.id}>
              {s.title}
            </option>
          ))}
        </select>
      </label>
      {scenario && (
        <div className="scenario" data-testid="scenario-detail" data-scenario={scenario.id}>
          <p>
            <strong>The paper:</strong> {scenario.claim}
          </p>
          <p>
            <strong>Here:</strong> {scenario.lookAt} These are small runs of a tiny model for a few minutes;
            they can agree with the paper or not.
          </p>
          <ol>
            {scenario.runs.map((run) => (
              <li key={run.label}>
                {run.label}{' '}
                <button type="button" onClick={() => applyScenarioRun(run)}>
                  Set up
                </button>
              </li>
            ))}
          </ol>
          <button
            type="button"
            data-testid="scenario-queue"
            onClick={() => {
              client.lab.enqueue(scenario.runs.map(scenarioForm));
              void client.lab.runQueue();
            }}
          >
            Queue all {scenario.runs.length} runs
          </button>
        </div>
      )}
    </section>
  );
}
