import { type DragEvent, useId, useRef, useState } from 'react';
import { skipMessage } from '../../data/image-set';
import { gridSize, type SparkConfig } from '../../models/config';
import { PRESET_TRAINING, PRESETS, type PresetName } from '../../models/presets';
import { useClient } from '../client-context';
import {
  checkForm,
  DATASET_LABELS,
  type DatasetChoice,
  describePreset,
  formForPreset,
  needsNewRun,
  PLAYGROUND_PRESETS,
  visibleCells,
} from '../run-config';
import { useAppStore } from '../store';
import { StartDisabledReason } from '../teach/StartReason';
import { CheckpointViewer } from './CheckpointViewer';
import { AblationFields, RunProgress, ShareLink } from './LabSettings';

function NumberField(props: {
  label: string;
  value: number;
  onChange: (value: number) => void;
  min?: number;
  testId: string;
}) {
  const id = useId();
  return (
    <label htmlFor={id}>
      <span>{props.label}</span>
      <input
        id={id}
        type="number"
        min={props.min}
        step={1}
        value={Number.isNaN(props.value) ? '' : props.value}
        data-testid={props.testId}
        onChange={(e) => props.onChange(e.target.value === '' ? Number.NaN : Number(e.target.value))}
      />
    </label>
  );
}

function SettingsForm() {
  const form = useAppStore((s) => s.form);
  const setForm = useAppStore((s) => s.setForm);
  const configuredForm = useAppStore((s) => s.run.configuredForm);
  const hasRun = useAppStore((s) => s.run.runId !== undefined);
  const userImages = useAppStore((s) => s.images.result?.total ?? 0);
  const client = useClient();
  const check = checkForm(form);
  const grid = gridSize(PRESETS[form.preset] as SparkConfig);
  const visible = visibleCells(form.preset, form.maskRatio);
  const training = PRESET_TRAINING[form.preset];
  const ids = { preset: useId(), dataset: useId(), ratio: useId(), lr: useId() };
  return (
    <fieldset className="settings">
      <legend>Settings</legend>
      <label htmlFor={ids.preset}>
        <span>Model preset</span>
        <select
          id={ids.preset}
          value={form.preset}
          data-testid="preset"
          onChange={(e) => setForm(formForPreset(e.target.value as PresetName, form))}
        >
          {PLAYGROUND_PRESETS.map((name) => (
            <option key={name} value={name}>
              {describePreset(name)}
            </option>
          ))}
        </select>
      </label>
      <label htmlFor={ids.dataset}>
        <span>Data</span>
        <select
          id={ids.dataset}
          value={form.dataset}
          data-testid="dataset"
          onChange={(e) => setForm({ dataset: e.target.value as DatasetChoice })}
        >
          {(Object.keys(DATASET_LABELS) as DatasetChoice[]).map((kind) => (
            <option key={kind} value={kind} disabled={kind === 'user' && userImages === 0}>
              {DATASET_LABELS[kind]}
              {kind === 'user' ? ` (${userImages} loaded)` : ''}
            </option>
          ))}
        </select>
      </label>
      <label htmlFor={ids.ratio}>
        <span>
          Mask ratio <output data-testid="mask-ratio-value">{form.maskRatio.toFixed(2)}</output>
          <small>
            {visible === undefined
              ? ` no cell of the ${grid}×${grid} grid stays visible`
              : ` ${visible} of ${grid * grid} cells visible`}
            {hasRun ? ' · applies from the next step' : ''}
          </small>
        </span>
        <input
          id={ids.ratio}
          type="range"
          min={0}
          max={0.95}
          step={0.05}
          value={form.maskRatio}
          data-testid="mask-ratio"
          onChange={(e) => client.setMaskRatio(Number(e.target.value))}
        />
      </label>
      <div className="row">
        <NumberField
          label="Batch"
          value={form.batchSize}
          min={2}
          testId="batch"
          onChange={(batchSize) => setForm({ batchSize })}
        />
        <NumberField
          label="Steps"
          value={form.steps}
          min={1}
          testId="steps"
          onChange={(steps) => setForm({ steps })}
        />
        <NumberField
          label="Seed"
          value={form.seed}
          min={0}
          testId="seed"
          onChange={(seed) => setForm({ seed })}
        />
      </div>
      <label htmlFor={ids.lr}>
        <span>Peak learning rate</span>
        <input
          id={ids.lr}
          type="text"
          inputMode="decimal"
          value={form.lr}
          placeholder={`${form.preset} default: ${training.lr.toExponential(1)} (${training.optimizer.toUpperCase()})`}
          data-testid="lr"
          onChange={(e) => setForm({ lr: e.target.value })}
        />
      </label>
      <AblationFields />
      {!check.ok && (
        <p className="form-error" role="alert" data-testid="form-error">
          {check.message}
        </p>
      )}
      {check.ok && hasRun && needsNewRun(configuredForm, form) && (
        <p className="hint">These settings start a new run (fresh weights) at the next Start or Step.</p>
      )}
    </fieldset>
  );
}

/**
 * A button that stays focusable while it cannot act (aria-disabled instead of disabled), so keyboard focus
 * is not thrown to the page when Start turns into Pause and back.
 */
function KeepFocusButton(props: {
  testId: string;
  disabled: boolean;
  onClick: () => void;
  children: React.ReactNode;
  className?: string;
  title?: string;
}) {
  return (
    <button
      type="button"
      className={props.className}
      data-testid={props.testId}
      aria-disabled={props.disabled}
      title={props.title}
      onClick={() => {
        if (!props.disabled) props.onClick();
      }}
    >
      {props.children}
    </button>
  );
}

function RunButtons() {
  const client = useClient();
  const run = useAppStore((s) => s.run);
  const form = useAppStore((s) => s.form);
  const gpuReady = useAppStore((s) => s.gpu.state === 'ready');
  const workerFailed = useAppStore((s) => s.worker === 'failed');
  const valid = checkForm(form).ok;
  const busy = run.pending !== null || workerFailed;
  const running = run.state === 'running';
  return (
    <div className="buttons">
      <KeepFocusButton
        className="primary"
        testId="start"
        disabled={!gpuReady || !valid || busy || running}
        onClick={() => void client.start()}
      >
        {run.pending === 'start'
          ? 'Starting…'
          : run.state === 'finished'
            ? 'Start new run'
            : run.runId && !needsNewRun(run.configuredForm, form) && run.step > 0
              ? 'Resume'
              : 'Start'}
      </KeepFocusButton>
      <KeepFocusButton testId="pause" disabled={!running || busy} onClick={() => void client.pause()}>
        Pause
      </KeepFocusButton>
      <KeepFocusButton
        testId="step"
        disabled={!gpuReady || !valid || busy || running || run.state === 'finished'}
        onClick={() => void client.step(1)}
      >
        Step
      </KeepFocusButton>
      <KeepFocusButton
        testId="reset"
        disabled={!run.runId || busy}
        title="Fresh weights and optimizer state, same settings"
        onClick={() => void client.reset()}
      >
        Reset
      </KeepFocusButton>
    </div>
  );
}

function RunStatus() {
  const run = useAppStore((s) => s.run);
  const worker = useAppStore((s) => s.worker);
  if (!run.runId)
    return (
      <div className="status" data-testid="run-status" data-state="unconfigured">
        <p>
          {worker === 'starting' ? 'Starting the training worker…' : 'No run yet: Start or Step begins one.'}
        </p>
        <RunProgress />
      </div>
    );
  const steps = run.configuredForm?.steps;
  return (
    <div className="status" data-testid="run-status" data-state={run.state}>
      <p>
        <strong>{run.state}</strong> · step <span data-testid="run-step">{run.step}</span>
        {steps ? ` of ${steps}` : ''}
        {run.parameterCount !== undefined && ` · ${run.parameterCount.toLocaleString()} parameters`}
        {run.lastCheckpoint && ` · checkpoint at step ${run.lastCheckpoint.step}`}
      </p>
      <RunProgress />
      {run.warnings.map((w) => (
        <p key={w} className="note">
          {w}
        </p>
      ))}
    </div>
  );
}

function WeightsControls() {
  const client = useClient();
  const hasRun = useAppStore((s) => s.run.runId !== undefined);
  const busy = useAppStore((s) => s.run.pending !== null || s.run.state === 'running');
  const gpuReady = useAppStore((s) => s.gpu.state === 'ready');
  const input = useRef<HTMLInputElement>(null);
  return (
    <fieldset>
      <legend>Weights</legend>
      <div className="buttons">
        <button
          type="button"
          data-testid="export-weights"
          disabled={!hasRun || busy}
          onClick={() => void client.exportWeights()}
        >
          Export weights
        </button>
        <button
          type="button"
          data-testid="export-encoder"
          disabled={!hasRun || busy}
          onClick={() => void client.exportEncoder()}
        >
          Export encoder (timm)
        </button>
        <button
          type="button"
          data-testid="export-official-pth"
          title="PyTorch .pth that the official SparK main.py resumes from (docs/SCALE-OUT.md)"
          disabled={!hasRun || busy}
          onClick={() => void client.exportPth('official-pth')}
        >
          Export .pth (official)
        </button>
        <button
          type="button"
          data-testid="export-timm-pth"
          disabled={!hasRun || busy}
          onClick={() => void client.exportPth('timm-pth')}
        >
          Export encoder .pth
        </button>
        <button type="button" disabled={!gpuReady || busy} onClick={() => input.current?.click()}>
          Import weights…
        </button>
        <input
          ref={input}
          type="file"
          accept=".safetensors,.pth"
          hidden
          data-testid="import-weights"
          onChange={(e) => {
            const file = e.target.files?.[0];
            e.target.value = '';
            if (file) void client.importWeights(file);
          }}
        />
      </div>
      <p className="hint">
        Full state under the official SparK names (safetensors); the encoder export loads into timm/PyTorch.
      </p>
      <CheckpointViewer />
    </fieldset>
  );
}

function ImageControls() {
  const client = useClient();
  const images = useAppStore((s) => s.images);
  const [dragging, setDragging] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    void client.addImages(Array.from(e.dataTransfer.files));
  };
  return (
    <fieldset>
      <legend>Your images</legend>
      <section
        className={`dropzone${dragging ? ' dragging' : ''}`}
        aria-label="Drop image files here"
        data-testid="dropzone"
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <p>Drop PNG or JPEG files here, or</p>
        <button type="button" disabled={images.pending} onClick={() => input.current?.click()}>
          {images.pending ? 'Reading…' : 'Choose files…'}
        </button>
        <input
          ref={input}
          type="file"
          accept="image/png,image/jpeg"
          multiple
          hidden
          data-testid="add-images"
          onChange={(e) => {
            const files = Array.from(e.target.files ?? []);
            e.target.value = '';
            void client.addImages(files);
          }}
        />
      </section>
      {images.result && (
        <p data-testid="images-summary">
          {images.result.total} image{images.result.total === 1 ? '' : 's'} ready (
          {(images.result.cacheBytes / 2 ** 20).toFixed(1)} of{' '}
          {(images.result.budgetBytes / 2 ** 20).toFixed(0)} MiB).
        </p>
      )}
      {images.skipped.length > 0 && (
        <ul className="skipped" data-testid="skipped-files">
          {images.skipped.map((file, i) => (
            // The same file name may be refused twice (added again): the index keeps keys unique.
            // biome-ignore lint/suspicious/noArrayIndexKey: entries are only ever appended
            <li key={i}>{skipMessage(file)}</li>
          ))}
        </ul>
      )}
    </fieldset>
  );
}

export function Controls() {
  return (
    <section className="panel controls" aria-label="Training controls">
      <SettingsForm />
      <RunButtons />
      <StartDisabledReason />
      <RunStatus />
      <ShareLink />
      <WeightsControls />
      <ImageControls />
    </section>
  );
}
