import * as Comlink from 'comlink';
import { useState } from 'react';
import type { PageProbeApi, PageProbeRequest } from '../../probe/probe-worker';
import type { ProbeSummary, ProtocolName } from '../../probe/run';
import { useClient } from '../client-context';
import { type KeptRun, updateRun, useLabStore } from '../lab-store';
import { keptProbeOf, percent } from '../probe-results';
import { useAppStore } from '../store';

/**
 * Probe sets of the page (first N of each Fashion-MNIST split, the same for every run): the default is small
 * enough for a software adapter; "quick" answers in seconds there, at a coarser resolution (50 test images:
 * one image is 2 points); the CLI's default is the largest.
 */
const PROBE_SETS = {
  quick: { train: 100, test: 50, label: 'quick: learn from 100, test on 50' },
  standard: { train: 500, test: 200, label: 'learn from 500, test on 200' },
  large: { train: 2500, test: 500, label: 'learn from 2,500, test on 500 (slow)' },
} as const;
type ProbeSetName = keyof typeof PROBE_SETS;

/** The probe shown as bars: the latest one of this page. */
interface ShownProbe {
  runId: string;
  label: string;
  step: number;
  summary: ProbeSummary;
  /** Whether the random arm's scores came from an earlier probe of this page (same encoder and seed). */
  randomReused: boolean;
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
      data-samples={samples}
    >
      <span className="probe-bar-label">
        {label} · {protocol === 'knn' ? 'k-NN' : 'linear'}
      </span>
      <svg
        viewBox="0 0 200 14"
        preserveAspectRatio="none"
        width="200"
        height="14"
        role="img"
        aria-label={`${(accuracy * 100).toFixed(1)} percent; chance ${(chance * 100).toFixed(1)} percent`}
      >
        <rect x="0" y="2" width="200" height="10" fill="var(--panel-border, #ccc)" opacity="0.4" />
        <rect x="0" y="2" width={200 * accuracy} height="10" fill="currentColor" />
        <line x1={200 * chance} x2={200 * chance} y1="0" y2="14" stroke="red" strokeWidth="2" />
      </svg>
      <span data-testid="probe-result-text">
        {(accuracy * 100).toFixed(1)} % of {samples} test images
      </span>
    </div>
  );
}

/** Kept runs that have weights to probe: the current one (live weights) or one with a stored checkpoint. */
function probeable(run: KeptRun, currentId: string | undefined, hasCheckpoint: (id: string) => boolean) {
  if (run.state === 'queued' || run.imported) return false;
  return run.id === currentId || hasCheckpoint(run.id);
}

/**
 * "Does it help?": k-NN (and a linear probe on request) of a run's encoder against random init. The latest
 * probe is drawn as bars; every kept run's latest probe is kept with the run (the runs table's accuracy
 * column and the table here), so a mask-ratio sweep shows loss and downstream accuracy side by side.
 */
export function ProbePanel() {
  const client = useClient();
  const run = useAppStore((s) => s.run);
  const runs = useLabStore((s) => s.runs);
  const [linear, setLinear] = useState(false);
  const [probeSet, setProbeSet] = useState<ProbeSetName>('standard');
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<string>();
  const [error, setError] = useState<string>();
  const [shown, setShown] = useState<ShownProbe>();
  const hasCheckpoint = (id: string) => client.lab.checkpointOf(id) !== undefined;
  const probed = runs.filter((r) => r.probe);
  // Kept runs whose latest probe (if any) is of older weights than they have now.
  const stale = runs.filter(
    (r) => probeable(r, run.runId, hasCheckpoint) && (!r.probe || r.probe.step !== r.step),
  );

  /** Probes one kept run (the current one from its live weights, another from its checkpoint). */
  const probeRun = async (target: KeptRun | undefined, current: boolean) => {
    const set = PROBE_SETS[probeSet];
    const protocols: ProtocolName[] = linear ? ['knn', 'linear'] : ['knn'];
    const request: PageProbeRequest = {
      seed: run.configuredForm?.seed ?? 0,
      protocols,
      probeTrain: set.train,
      probeTest: set.test,
    };
    const runId = current ? run.runId : target?.id;
    if (!runId) throw new Error('There is no run to probe yet: start or step a run first.');
    if (current) {
      const weights = await client.runWeights();
      if (!weights) throw new Error('There is no run to probe yet: start or step a run first.');
      request.weights = Comlink.transfer(weights, [weights.buffer]);
    } else request.checkpoint = runId;
    const label = target?.label ?? runId;
    setStatus(`Probing run ${label}…`);
    // Progress comes over the callback's own message port, so its last message can arrive after the result
    // (which comes over the worker's): once the probe has answered, late progress must not bring the
    // status line back.
    let answered = false;
    const result = await probeWorker()
      .probe(
        request,
        Comlink.proxy((message: string) => {
          if (!answered) setStatus(`Run ${label}: ${message}`);
        }),
      )
      .finally(() => {
        answered = true;
      });
    const step = result.step ?? (current ? run.step : (target?.step ?? 0));
    setShown({ runId, label, step, summary: result.summary, randomReused: result.randomReused });
    const kept = keptProbeOf(result.summary, step);
    if (kept) {
      updateRun(runId, () => ({ probe: kept }));
      client.lab.persistSoon();
    }
  };

  const act = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
      setStatus(undefined);
    } catch (e) {
      setError((e as Error).message);
      setStatus(undefined);
    } finally {
      setBusy(false);
    }
  };

  const probeCurrent = () =>
    act(() =>
      probeRun(
        runs.find((r) => r.id === run.runId),
        true,
      ),
    );
  const probeKept = () =>
    act(async () => {
      for (const target of stale) await probeRun(target, target.id === run.runId);
    });

  const latestRandom = shown?.summary.results.random;
  const latestOwn = shown?.summary.results.checkpoint;
  return (
    <section className="panel probe" data-testid="probe-panel" aria-labelledby="probe-title">
      <h2 id="probe-title">Does it help?</h2>
      <p>
        A falling reconstruction loss says little about the encoder. Here its frozen features classify
        Fashion-MNIST (labelled images to learn from, and others never seen in pre-training) next to the same
        network at its random initial weights. The red line is chance.
      </p>
      <div className="probe-controls">
        <label>
          probe set{' '}
          <select
            data-testid="probe-set"
            value={probeSet}
            disabled={busy}
            onChange={(e) => setProbeSet(e.target.value as ProbeSetName)}
          >
            {(Object.keys(PROBE_SETS) as ProbeSetName[]).map((name) => (
              <option key={name} value={name}>
                {PROBE_SETS[name].label}
              </option>
            ))}
          </select>
        </label>{' '}
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
          onClick={() => void probeCurrent()}
          disabled={busy || !run.runId}
        >
          {busy ? 'Probing…' : 'Probe this run'}
        </button>{' '}
        <button
          type="button"
          data-testid="probe-kept"
          onClick={() => void probeKept()}
          disabled={busy || stale.length === 0}
          title="Probes every kept run whose weights have not been probed yet (one random-init arm for all)"
        >
          Probe kept runs ({stale.length})
        </button>
      </div>
      {!run.runId && !busy && (
        <p className="hint" data-testid="probe-hint">
          Nothing to probe yet: start or step a run (training needs WebGPU), then probe its encoder here.
        </p>
      )}
      {status && (
        <p aria-live="polite" data-testid="probe-status">
          {status}
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {shown && (
        <div
          className="probe-bars"
          data-testid="probe-bars"
          data-run-id={shown.runId}
          data-random-reused={shown.randomReused}
        >
          {(['knn', 'linear'] as const).flatMap((protocol) =>
            (
              [
                ['random', 'random init', latestRandom?.[protocol]],
                [shown.runId, `run ${shown.label} (step ${shown.step})`, latestOwn?.[protocol]],
              ] as const
            ).flatMap(([arm, label, score]) =>
              score
                ? [
                    <Bar
                      key={`${arm}-${protocol}`}
                      arm={arm}
                      label={label}
                      protocol={protocol}
                      accuracy={score.accuracy}
                      samples={score.samples}
                      chance={shown.summary.chance}
                    />,
                  ]
                : [],
            ),
          )}
          <p data-testid="probe-chance" data-chance={shown.summary.chance}>
            {shown.summary.probeTest} test images, {shown.summary.probeTrain} to learn from. Chance{' '}
            {percent(shown.summary.chance)} (the most frequent test class); shuffled-label control{' '}
            {percent(shown.summary.shuffledControl?.knn?.accuracy)} (k-NN). Initial-weights hash{' '}
            <code>{shown.summary.initHash}</code>.
          </p>
        </div>
      )}
      {probed.length > 0 && (
        <div className="table-scroll">
          <table className="probe-table" data-testid="probe-table">
            <caption>Latest probe of each kept run</caption>
            <thead>
              <tr>
                <th scope="col">run</th>
                <th scope="col">step</th>
                <th scope="col">mask ratio</th>
                <th scope="col">k-NN</th>
                <th scope="col">linear</th>
                <th scope="col">random k-NN</th>
                <th scope="col">test images</th>
              </tr>
            </thead>
            <tbody>
              {probed.map((r) => (
                <tr key={r.id} data-testid="probe-row" data-arm={r.id} data-accuracy={r.probe?.knn}>
                  <th scope="row">{r.label}</th>
                  <td>{r.probe?.step}</td>
                  <td>{r.form.maskRatio}</td>
                  <td>{percent(r.probe?.knn)}</td>
                  <td>{percent(r.probe?.linear)}</td>
                  <td>{percent(r.probe?.randomKnn)}</td>
                  <td>{r.probe?.samples}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
