/**
 * The lab's parts of the controls: the ablation switches and model sizes, the shareable link, and the run's
 * progress (bar, elapsed time, ETA) with one status line for screen readers.
 */
import { useEffect, useId, useState } from 'react';
import type { SparkConfig } from '../../models/config';
import { PRESET_TRAINING, PRESETS } from '../../models/presets';
import { useLabStore } from '../lab-store';
import { encodeLink } from '../link';
import { ABLATIONS, type PlaygroundForm } from '../run-config';
import { useAppStore } from '../store';

function TextField(props: {
  label: string;
  value: string;
  placeholder: string;
  testId: string;
  onChange: (value: string) => void;
}) {
  const id = useId();
  return (
    <label htmlFor={id}>
      <span>{props.label}</span>
      <input
        id={id}
        type="text"
        value={props.value}
        placeholder={props.placeholder}
        data-testid={props.testId}
        onChange={(e) => props.onChange(e.target.value)}
      />
    </label>
  );
}

export function AblationFields() {
  const form = useAppStore((s) => s.form);
  const setForm = useAppStore((s) => s.setForm);
  const base = useId();
  const preset = PRESETS[form.preset];
  const backbone = preset.backbone;
  const widths = backbone.family === 'resnet' ? backbone.widths : backbone.dims;
  const training = PRESET_TRAINING[form.preset];
  return (
    <fieldset className="ablations">
      <legend>Ablations</legend>
      <p className="hint">SparK’s choice first; each switch changes what trains.</p>
      {ABLATIONS.map(({ field, testId, label, options }) => (
        <label key={field} htmlFor={`${base}-${field}`}>
          <span>{label}</span>
          <select
            id={`${base}-${field}`}
            value={form[field]}
            data-testid={testId}
            onChange={(e) => setForm({ [field]: e.target.value } as Partial<PlaygroundForm>)}
          >
            {options.map(([value, text]) => (
              <option key={value} value={value}>
                {text}
              </option>
            ))}
          </select>
        </label>
      ))}
      <details>
        <summary>Model size and optimiser</summary>
        <TextField
          label="Decoder width"
          value={form.decoderWidth}
          placeholder={`${form.preset}: ${preset.decoderWidth}`}
          testId="decoder-width"
          onChange={(decoderWidth) => setForm({ decoderWidth })}
        />
        <TextField
          label="Backbone widths"
          value={form.widths}
          placeholder={`${form.preset}: ${widths.join(', ')}`}
          testId="backbone-widths"
          onChange={(w) => setForm({ widths: w })}
        />
        <TextField
          label="Backbone depths"
          value={form.depths}
          placeholder={`${form.preset}: ${backbone.depths.join(', ')}`}
          testId="backbone-depths"
          onChange={(depths) => setForm({ depths })}
        />
        <label htmlFor={`${base}-optimizer`}>
          <span>Optimiser</span>
          <select
            id={`${base}-optimizer`}
            value={form.optimizer}
            data-testid="optimizer"
            onChange={(e) => setForm({ optimizer: e.target.value as PlaygroundForm['optimizer'] })}
          >
            <option value="">{`${form.preset} default (${training.optimizer.toUpperCase()})`}</option>
            <option value="lamb">LAMB</option>
            <option value="adamw">AdamW</option>
          </select>
        </label>
        <TextField
          label="Weight decay (start)"
          value={form.weightDecay}
          placeholder="official: 0.04 → 0.2"
          testId="weight-decay"
          onChange={(weightDecay) => setForm({ weightDecay })}
        />
        <TextField
          label="Drop path (training only)"
          value={form.dropPath}
          placeholder={`${form.preset}: ${(preset as SparkConfig).dropPathRate ?? 0}`}
          testId="drop-path"
          onChange={(dropPath) => setForm({ dropPath })}
        />
      </details>
    </fieldset>
  );
}

export function ShareLink() {
  const form = useAppStore((s) => s.form);
  const panel = useLabStore((s) => s.panel);
  const [status, setStatus] = useState('');
  const hash = encodeLink({ form, ...(panel ? { panel } : {}) });
  const url = `${location.origin}${location.pathname}${hash}`;
  const inputId = useId();
  return (
    <div className="share-link">
      <label htmlFor={inputId}>
        <span>Link to these settings</span>
        <input
          id={inputId}
          type="text"
          readOnly
          value={url}
          data-testid="share-link"
          onFocus={(e) => e.target.select()}
        />
      </label>
      <button
        type="button"
        data-testid="copy-link"
        onClick={async () => {
          try {
            await navigator.clipboard.writeText(url);
            setStatus('Link copied.');
          } catch {
            (document.getElementById(inputId) as HTMLInputElement | null)?.select();
            setStatus('The browser did not allow copying: the link is selected, copy it with Ctrl+C.');
          }
        }}
      >
        Copy link
      </button>
      <span className="hint" aria-live="polite">
        {status}
      </span>
      {form.dataset === 'user' && (
        <p className="hint" data-testid="link-user-images">
          A link cannot carry your own images: whoever opens it trains on the built-in Fashion-MNIST instead.
        </p>
      )}
    </div>
  );
}

function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** Elapsed time since the loop started and the time left at the pace since then. */
export function estimate(
  now: number,
  clockStart: { startedAt: number; startStep: number },
  step: number,
  total: number,
): { elapsedMs: number; remainingMs?: number } {
  const elapsedMs = now - clockStart.startedAt;
  const done = step - clockStart.startStep;
  if (done <= 0 || elapsedMs <= 0) return { elapsedMs };
  return { elapsedMs, remainingMs: (elapsedMs / done) * Math.max(0, total - step) };
}

export function RunProgress() {
  const run = useAppStore((s) => s.run);
  const labClock = useLabStore((s) => s.clock);
  const label = useLabStore((s) => s.runs.find((r) => r.id === run.runId)?.label);
  const queued = useLabStore((s) => s.runs.filter((r) => r.state === 'queued').length);
  const [now, setNow] = useState(() => performance.now());
  const running = run.state === 'running';
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => setNow(performance.now()), 1000);
    return () => clearInterval(timer);
  }, [running]);
  const total = run.configuredForm?.steps ?? 0;
  const timing =
    labClock && labClock.runId === run.runId ? estimate(now, labClock, run.step, total) : undefined;
  // Announced on changes of state only (not every step): what a screen-reader user needs to act on.
  const status = !run.runId
    ? 'No run yet.'
    : `Run ${label ?? ''} ${run.state}${run.state === 'finished' ? ` after ${run.step} steps` : ''}${queued > 0 ? `; ${queued} queued` : ''}.`;
  return (
    <div className="run-progress">
      <progress
        data-testid="run-progress"
        max={Math.max(1, total)}
        value={run.step}
        aria-label="Run progress"
      />
      <span data-testid="run-eta" className="hint">
        {run.runId && total > 0 ? `${run.step} of ${total} steps` : ''}
        {timing && running ? ` · ${clock(timing.elapsedMs)} elapsed` : ''}
        {timing?.remainingMs !== undefined && running ? ` · about ${clock(timing.remainingMs)} left` : ''}
      </span>
      <p className="visually-hidden" role="status" aria-live="polite" data-testid="status-line">
        {status}
      </p>
    </div>
  );
}
