/**
 * Every kept run in one table: its state, what differs from the first selected run, its latest numbers and
 * what can be done with it (compare, pin, resume, delete); the queue and the storage budget above it.
 */
import { useRef } from 'react';
import { formatNumber } from '../charts';
import { useClient } from '../client-context';
import { runColor } from '../lab-export';
import { describeDiff, describeRun, type KeptRun, useLabStore } from '../lab-store';
import { percent } from '../probe-results';
import { useAppStore } from '../store';

function RunRow(props: { run: KeptRun; index: number; reference?: KeptRun; current: boolean }) {
  const client = useClient();
  const { run, reference, current } = props;
  const selected = useLabStore((s) => s.selected.includes(run.id));
  const busy = useAppStore((s) => s.run.pending !== null || s.run.state === 'running');
  const last = run.metrics[run.metrics.length - 1];
  const heldOut = run.heldOut[run.heldOut.length - 1];
  const diff = reference && reference.id !== run.id ? describeDiff(reference.form, run.form) : undefined;
  const canResume = !current && !run.imported && client.lab.checkpointOf(run.id) !== undefined;
  return (
    <tr
      data-testid="run-row"
      data-run-id={run.id}
      data-state={run.state}
      data-config={JSON.stringify(run.config ?? null)}
      className={current ? 'current' : undefined}
    >
      <td>
        <input
          type="checkbox"
          checked={selected}
          aria-label={`Compare run ${run.label}`}
          data-testid="run-select"
          onChange={() => client.lab.toggleSelected(run.id)}
        />
      </td>
      <th scope="row">
        <span className="swatch" style={{ background: runColor(props.index) }} aria-hidden="true" />
        {run.label}
        {current && <small> (current)</small>}
      </th>
      <td>{run.state}</td>
      <td className="diff" data-testid="run-diff">
        {diff === undefined ? describeRun(run.form) : diff.length === 0 ? 'same settings' : diff.join(', ')}
        {run.userImages && <small> · your images</small>}
        {run.imported && <small> · imported</small>}
      </td>
      <td>
        {run.step}/{run.form.steps}
      </td>
      <td>{last ? formatNumber(last.loss) : '–'}</td>
      <td>{heldOut ? formatNumber(heldOut.loss) : '–'}</td>
      <td
        data-testid="run-probe"
        data-arm={run.id}
        data-accuracy={run.probe?.knn}
        title={
          run.probe
            ? `k-NN of step ${run.probe.step} on ${run.probe.samples} test images; random init ${percent(run.probe.randomKnn)}, chance ${percent(run.probe.chance)} ("Does it help?")`
            : 'Not probed yet ("Does it help?")'
        }
      >
        {run.probe ? percent(run.probe.knn) : '–'}
        {run.probe && run.probe.step !== run.step && <small> (step {run.probe.step})</small>}
      </td>
      <td>{last ? formatNumber(last.stepMs) : '–'}</td>
      <td className="buttons">
        {canResume && (
          <button
            type="button"
            data-testid="resume-saved"
            disabled={busy}
            onClick={() => void client.lab.resumeRun(run.id)}
          >
            Resume
          </button>
        )}
        <button
          type="button"
          aria-pressed={run.pinned}
          data-testid="run-pin"
          onClick={() => client.lab.togglePinned(run.id)}
        >
          {run.pinned ? 'Pinned' : 'Pin'}
        </button>
        <button
          type="button"
          data-testid="run-delete"
          disabled={current && busy}
          onClick={() => void client.lab.deleteRun(run.id)}
        >
          Delete
        </button>
      </td>
    </tr>
  );
}

function QueueButtons() {
  const client = useClient();
  const form = useAppStore((s) => s.form);
  const gpuReady = useAppStore((s) => s.gpu.state === 'ready');
  const queued = useLabStore((s) => s.runs.filter((r) => r.state === 'queued').length);
  const active = useLabStore((s) => s.queueActive);
  return (
    <div className="buttons queue">
      <button type="button" data-testid="queue-add" onClick={() => client.lab.enqueue([form])}>
        Queue these settings
      </button>
      <button
        type="button"
        data-testid="queue-sweep"
        disabled={!gpuReady}
        onClick={() => client.lab.sweepMaskRatio()}
      >
        Mask sweep 0.4 · 0.6 · 0.8
      </button>
      <button
        type="button"
        data-testid="queue-seeds"
        disabled={!gpuReady}
        onClick={() => client.lab.repeatSeeds(3)}
      >
        3 seeds
      </button>
      <button
        type="button"
        data-testid="queue-run"
        disabled={!gpuReady || queued === 0 || active}
        onClick={() => void client.lab.runQueue()}
      >
        {active ? `Running the queue (${queued} left)` : `Run the queue (${queued})`}
      </button>
      {queued > 0 && (
        <button type="button" onClick={() => client.lab.clearQueue()}>
          Clear the queue
        </button>
      )}
    </div>
  );
}

export function RunsPanel() {
  const client = useClient();
  const runs = useLabStore((s) => s.runs);
  const selected = useLabStore((s) => s.selected);
  const storage = useLabStore((s) => s.storage);
  const browser = useAppStore((s) => s.storage);
  const currentId = useAppStore((s) => s.run.runId);
  const importInput = useRef<HTMLInputElement>(null);
  const reference = runs.find((r) => r.id === selected[0]);
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  return (
    <section className="panel runs" aria-label="Kept runs">
      <h2>Runs</h2>
      <p className="hint">
        Every run is kept. Tick runs to compare them on the charts and the watch set; the differences are
        shown against the first ticked run.
      </p>
      <QueueButtons />
      {runs.length === 0 ? (
        <p className="hint">No runs yet: Start, Step or a queue adds one.</p>
      ) : (
        <div className="table-scroll">
          <table data-testid="runs-table">
            <thead>
              <tr>
                <th scope="col">
                  <span className="visually-hidden">compare</span>
                </th>
                <th scope="col">run</th>
                <th scope="col">state</th>
                <th scope="col">{reference ? `settings vs ${reference.label}` : 'settings'}</th>
                <th scope="col">step</th>
                <th scope="col">loss</th>
                <th scope="col">held-out</th>
                <th scope="col">
                  <abbr title="downstream accuracy: k-NN of the frozen encoder on Fashion-MNIST">k-NN</abbr>
                </th>
                <th scope="col">ms/step</th>
                <th scope="col">
                  <span className="visually-hidden">actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {runs.map((run, index) => (
                <RunRow
                  key={run.id}
                  run={run}
                  index={index}
                  reference={reference}
                  current={run.id === currentId}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="buttons">
        <button
          type="button"
          data-testid="download-metrics"
          disabled={runs.length === 0}
          onClick={() => client.lab.downloadMetrics()}
        >
          Metrics (CSV)
        </button>
        <button
          type="button"
          data-testid="download-report"
          disabled={runs.length === 0}
          onClick={() => void client.lab.downloadReport()}
        >
          Lab report (zip)
        </button>
        <button
          type="button"
          data-testid="runs-export"
          disabled={runs.length === 0}
          onClick={() => client.lab.exportRuns()}
        >
          Export runs…
        </button>
        <button type="button" onClick={() => importInput.current?.click()}>
          Import runs…
        </button>
        <input
          ref={importInput}
          type="file"
          accept=".json,application/json"
          hidden
          data-testid="runs-import"
          onChange={(e) => {
            const file = e.target.files?.[0];
            e.target.value = '';
            if (file) void client.lab.importRuns(file);
          }}
        />
      </div>
      <p className="hint" data-testid="storage-usage">
        {mib(storage.usedBytes)} of {mib(storage.budgetBytes)} MiB used by kept runs and their checkpoints in
        this browser; past the budget the oldest unpinned run is removed (with a notice).
        {browser &&
          ` The whole site stores ${mib(browser.usage)} of the ${mib(browser.quota)} MiB the browser allows${browser.persisted ? '.' : '; the browser may delete it when space runs low.'}`}
      </p>
    </section>
  );
}
