import * as Comlink from 'comlink';
import { useState } from 'react';
import type { PageProbeApi } from '../../probe/probe-worker';
import type { ProbeSummary, ProtocolName } from '../../probe/run';
import { useClient } from '../client-context';
import { useAppStore } from '../store';

/** Probe set of the page: small enough for a software adapter, the same for every run (first N of each split). */
const PAGE_PROBE_TRAIN = 500;
const PAGE_PROBE_TEST = 200;

interface KeptResult {
  /** Order of the probe in this page session (the table's row key). */
  id: number;
  runId: string;
  step: number;
  maskRatio?: number;
  summary: ProbeSummary;
}

let worker: Comlink.Remote<PageProbeApi> | undefined;
function probeWorker(): Comlink.Remote<PageProbeApi> {
  worker ??= Comlink.wrap<PageProbeApi>(
    new Worker(new URL('../../probe/probe-worker.ts', import.meta.url), {
      type: 'module',
      name: 'sparklab-probe',
    }),
  );
  return worker;
}

function Bar({
  arm,
  protocol,
  accuracy,
  samples,
  chance,
  label,
}: {
  arm: string;
  protocol: ProtocolName;
  accuracy: number;
  samples: number;
  chance: number;
  label: string;
}) {
  return (
    <div
      className="probe-bar"
      data-testid="probe-result"
      data-arm={arm}
      data-protocol={protocol}
      data-accuracy={accuracy}
    >
      <span className="probe-bar-label">
        {label} · {protocol === 'knn' ? 'k-NN' : 'linear'}
      </span>
      <svg width="200" height="14" role="img" aria-label={`${(accuracy * 100).toFixed(1)} percent`}>
        <rect x="0" y="2" width="200" height="10" fill="var(--panel-border, #ccc)" opacity="0.4" />
        <rect x="0" y="2" width={200 * accuracy} height="10" fill="currentColor" />
        <line x1={200 * chance} x2={200 * chance} y1="0" y2="14" stroke="red" strokeWidth="2" />
      </svg>
      <span>
        {(accuracy * 100).toFixed(1)} % of {samples}
      </span>
    </div>
  );
}

/** "Does it help?": k-NN (and a linear probe on request) of the current run's encoder against random init. */
export function ProbePanel() {
  const client = useClient();
  const run = useAppStore((s) => s.run);
  const [linear, setLinear] = useState(false);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<string>();
  const [error, setError] = useState<string>();
  const [kept, setKept] = useState<KeptResult[]>([]);
  const latest = kept[kept.length - 1];

  const probe = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const weights = await client.runWeights();
      if (!weights) throw new Error('There is no run to probe yet: start or step a run first.');
      const protocols: ProtocolName[] = linear ? ['knn', 'linear'] : ['knn'];
      const summary = await probeWorker().probe(
        {
          weights: Comlink.transfer(weights, [weights.buffer]),
          seed: run.configuredForm?.seed ?? 0,
          protocols,
          probeTrain: PAGE_PROBE_TRAIN,
          probeTest: PAGE_PROBE_TEST,
        },
        Comlink.proxy((message: string) => setStatus(message)),
      );
      setKept((list) => [
        ...list,
        {
          id: list.length,
          runId: run.runId ?? 'run',
          step: run.step,
          maskRatio: run.configuredForm?.maskRatio,
          summary,
        },
      ]);
      setStatus(undefined);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel probe" data-testid="probe-panel" aria-labelledby="probe-title">
      <h2 id="probe-title">Does it help?</h2>
      <p>
        A falling reconstruction loss says little about the encoder. Here its frozen features classify
        Fashion-MNIST ({PAGE_PROBE_TRAIN} labelled images to learn from, {PAGE_PROBE_TEST} never seen in
        pre-training) next to the same network at its random initial weights. The red line is chance.
      </p>
      <label>
        <input
          type="checkbox"
          checked={linear}
          onChange={(e) => setLinear(e.target.checked)}
          disabled={busy}
        />{' '}
        also a linear probe (slower)
      </label>{' '}
      <button
        type="button"
        data-testid="probe-run"
        onClick={() => void probe()}
        disabled={busy || !run.runId}
      >
        {busy ? 'Probing…' : 'Probe this run'}
      </button>
      {status && <p aria-live="polite">{status}</p>}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {latest && (
        <div className="probe-bars">
          {(['random', 'checkpoint'] as const).flatMap((arm) =>
            (['knn', 'linear'] as const).flatMap((protocol) => {
              const score = latest.summary.results[arm]?.[protocol];
              if (!score) return [];
              return [
                <Bar
                  key={`${arm}-${protocol}`}
                  arm={arm === 'checkpoint' ? latest.runId : 'random'}
                  label={arm === 'checkpoint' ? `this run (step ${latest.step})` : 'random init'}
                  protocol={protocol}
                  accuracy={score.accuracy}
                  samples={score.samples}
                  chance={latest.summary.chance}
                />,
              ];
            }),
          )}
          <p>
            Chance {(latest.summary.chance * 100).toFixed(1)} %; shuffled-label control{' '}
            {((latest.summary.shuffledControl?.knn?.accuracy ?? 0) * 100).toFixed(1)} % (k-NN).
            Initial-weights hash <code>{latest.summary.initHash}</code>.
          </p>
        </div>
      )}
      {kept.length > 1 && (
        <table className="probe-table">
          <thead>
            <tr>
              <th>run</th>
              <th>step</th>
              <th>mask ratio</th>
              <th>k-NN</th>
              <th>linear</th>
              <th>random k-NN</th>
            </tr>
          </thead>
          <tbody>
            {kept.map((k) => (
              <tr key={k.id}>
                <td>{k.runId}</td>
                <td>{k.step}</td>
                <td>{k.maskRatio ?? '–'}</td>
                <td>{pct(k.summary.results.checkpoint?.knn?.accuracy)}</td>
                <td>{pct(k.summary.results.checkpoint?.linear?.accuracy)}</td>
                <td>{pct(k.summary.results.random?.knn?.accuracy)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function pct(v: number | undefined): string {
  return v === undefined ? '–' : `${(v * 100).toFixed(1)} %`;
}
