/**
 * Guided comparisons of the paper's claims. Each scenario states what the paper reports (without inventing
 * numbers), and sets its runs up through the lab's link format: every run is a link (shareable, openable on its
 * own) and "Queue these runs" decodes those links into the lab's run queue, so what a scenario starts is exactly
 * what its links describe.
 */
import { useId, useState } from 'react';
import { useClient } from '../client-context';
import { decodeLink, encodeLink } from '../link';
import type { PlaygroundForm } from '../run-config';
import { useAppStore } from '../store';
import { PanelHelp } from './PanelHelp';

export interface ScenarioRun {
  label: string;
  /** Form fields of this run (ablation switches included); the rest keep the learner's current values. */
  form: Partial<PlaygroundForm>;
}

export interface Scenario {
  id: string;
  title: string;
  claim: string;
  lookAt: string;
  runs: ScenarioRun[];
}

/** Short runs of the tiny model on the built-in Fashion-MNIST: minutes on a laptop GPU. */
const SHORT: Partial<PlaygroundForm> = {
  preset: 'tiny',
  dataset: 'fashion-mnist',
  batchSize: 8,
  steps: 300,
  seed: 0,
  maskRatio: 0.6,
  encoder: 'sparse',
  decoderInputs: 'all',
  maskToken: 'learned',
  lossTarget: 'patch-norm',
  lossOn: 'masked',
};

const COMPARE =
  'Compare the held-out yardstick (masked loss at ratio 0.6, the same for every run) in the runs table and chart, and the runs side by side on the watch set; where the downstream probe is available, its accuracy is closer to what the paper measures.';

export const SCENARIOS: Scenario[] = [
  {
    id: 'why-sparse',
    title: 'Why sparse? zero-masking vs sparse encoding',
    claim:
      'Encoding only the visible cells with sparse convolutions pre-trains a better convnet than filling the hidden cells with zeros and running it densely; the paper’s ablation measures this by fine-tuning accuracy on ImageNet.',
    lookAt: COMPARE,
    runs: [
      { label: 'sparse encoder (SparK)', form: { ...SHORT } },
      { label: 'dense encoder, zero-filled holes', form: { ...SHORT, encoder: 'dense-zero' } },
    ],
  },
  {
    id: 'mask-ratio',
    title: 'How much to hide? mask ratio 0.4 / 0.6 / 0.8',
    claim:
      'SparK hides 60 % of each image by default; the paper reports that a high ratio suits convnets too.',
    lookAt: `${COMPARE} The watch-set masks are nested, so the three ratios are compared on the same pixels.`,
    runs: [0.4, 0.6, 0.8].map((maskRatio) => ({
      label: `mask ratio ${maskRatio}`,
      form: { ...SHORT, maskRatio },
    })),
  },
  {
    id: 'tokens-pyramid',
    title: 'Do mask tokens and the pyramid matter?',
    claim:
      'Filling hidden positions with learned mask tokens and decoding from every scale of the encoder (hierarchical decoding) beat zeros and single-scale decoding in the paper’s ablations, measured by fine-tuning accuracy.',
    lookAt: COMPARE,
    runs: [
      { label: 'SparK: learned tokens, all scales', form: { ...SHORT } },
      { label: 'zeros instead of mask tokens', form: { ...SHORT, maskToken: 'zeros' } },
      { label: 'coarsest scale only', form: { ...SHORT, decoderInputs: 'coarsest' } },
    ],
  },
];

/** The link (hash) of one run of a scenario, built on the learner's current form. */
export function scenarioLink(run: ScenarioRun, base: PlaygroundForm): string {
  return encodeLink({ form: { ...base, ...run.form }, panel: 'scenarios' });
}

/** The forms a scenario's links describe (what gets queued). */
export function scenarioForms(scenario: Scenario, base: PlaygroundForm): PlaygroundForm[] {
  return scenario.runs.map((run) => decodeLink(scenarioLink(run, base)).form);
}

export function ScenarioPanel() {
  const client = useClient();
  const form = useAppStore((s) => s.form);
  const gpuReady = useAppStore((s) => s.gpu.state === 'ready');
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
            <strong>Here:</strong> {scenario.lookAt} These are a few minutes of a tiny model: they may agree
            with the paper or not, and either is worth discussing.
          </p>
          <ol>
            {scenario.runs.map((run) => (
              <li key={run.label}>
                <a
                  href={`${location.pathname}${scenarioLink(run, form)}`}
                  target="_blank"
                  rel="noopener"
                  data-testid="scenario-run-link"
                >
                  {run.label}
                </a>{' '}
                <button
                  type="button"
                  onClick={() => useAppStore.getState().setForm(decodeLink(scenarioLink(run, form)).form)}
                >
                  Use these settings
                </button>
              </li>
            ))}
          </ol>
          <button
            type="button"
            className="primary"
            data-testid="scenario-queue"
            disabled={!gpuReady}
            onClick={() => {
              client.lab.enqueue(scenarioForms(scenario, form));
              void client.lab.runQueue();
            }}
          >
            Queue these {scenario.runs.length} runs
          </button>
        </div>
      )}
    </section>
  );
}
