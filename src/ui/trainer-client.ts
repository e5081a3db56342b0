/**
 * The main thread's side of the training worker: starts it on first use, turns the user's actions into
 * protocol calls, feeds worker events into the store and fetches snapshots at a pace that keeps the worker
 * training. Every failure ends as a notice holding the worker's sentence; nothing here throws into React.
 */
import * as Comlink from 'comlink';
import type { ImageSource } from '../data/image-set';
import type { CheckpointViewOptions, CheckpointViewResult } from '../worker/checkpoint-viewer';
import type { LabTrainerRemote } from '../worker/lab-protocol';
import {
  type CheckpointInfo,
  type ConfigureResult,
  connectTrainer,
  subscribeEvents,
  type TrainerRemote,
  transferables,
  type WorkerEvent,
} from '../worker/protocol';
import { LabClient } from './lab-client';
import { checkForm, metricsEveryFor, needsNewRun, type PlaygroundForm } from './run-config';
import { INITIAL_RUN, mergeImages, pushNotice, reduceWorkerEvent, useAppStore } from './store';
import { recallStoredForm, storeForm } from './stored-form';

/**
 * Snapshots are fetched at most this often while training (each one is a GPU read-back in the worker, taken
 * between steps), and never more often than every few steps where steps are slow.
 */
export const SNAPSHOT_INTERVAL_MS = 1500;
export const SNAPSHOT_MIN_STEPS = 5;
/** How long the mask-ratio slider must rest before the worker is told. */
export const MASK_RATIO_SETTLE_MS = 300;
/** Images shown in the reconstruction panel. */
export const SNAPSHOT_IMAGES = 4;

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The form of each run, kept in the browser so a run resumed after a reload shows its own settings. */
const FORM_KEY_PREFIX = 'sparklab.run-form.';

function rememberForm(runId: string, form: PlaygroundForm): void {
  try {
    localStorage.setItem(FORM_KEY_PREFIX + runId, storeForm(form));
  } catch {
    // Storage may be full or disabled; resuming then keeps the current form, which is only cosmetic.
  }
}

/**
 * The form saved with a run, validated (and migrated from older versions); a damaged or unknown one is set
 * aside with a notice, so the page keeps the current form instead of rendering a broken one.
 */
function recallForm(runId: string): PlaygroundForm | undefined {
  let recalled: ReturnType<typeof recallStoredForm>;
  try {
    // Forms saved by an older page lack the newer fields: they get the defaults (in recallStoredForm).
    recalled = recallStoredForm(localStorage.getItem(FORM_KEY_PREFIX + runId));
  } catch {
    return undefined;
  }
  if (!recalled) return undefined;
  if (recalled.ok) return recalled.value;
  pushNotice(
    'warning',
    'saved-form',
    `The settings saved with run ${runId} were set aside because ${recalled.reason}; the current settings are kept.`,
  );
  forgetForm(runId);
  return undefined;
}

function forgetForm(runId: string): void {
  try {
    localStorage.removeItem(FORM_KEY_PREFIX + runId);
  } catch {
    // Nothing to clean up when storage is unavailable.
  }
}

function download(bytes: Uint8Array, fileName: string): void {
  const blob = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' });
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.click();
  // The click has started the download; the URL is not needed after this task.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

export class PlaygroundClient {
  private remote?: TrainerRemote;
  private starting?: Promise<TrainerRemote>;
  private snapshotInFlight = false;
  private snapshotAgain = false;
  private lastSnapshotAt = 0;
  private maskRatioTimer?: ReturnType<typeof setTimeout>;

  /** Kept runs, queue, watch set, exports (./lab-client.ts). */
  readonly lab: LabClient;

  /** `createWorker` gives the worker (or, in tests, any comlink endpoint serving the API). */
  constructor(private readonly createWorker: () => Promise<Comlink.Endpoint>) {
    this.lab = new LabClient({
      remote: () => this.connect() as Promise<LabTrainerRemote>,
      startFresh: (form) => this.startFresh(form),
      resume: (info) => this.resume(info),
      refreshStorage: () => this.refreshStorage(),
    });
  }

  private get store() {
    return useAppStore;
  }

  private connect(): Promise<TrainerRemote> {
    if (this.remote) return Promise.resolve(this.remote);
    this.starting ??= (async () => {
      this.store.setState({ worker: 'starting' });
      let worker: Comlink.Endpoint;
      try {
        worker = await this.createWorker();
      } catch (error) {
        this.store.setState({ worker: 'failed' });
        throw error;
      }
      worker.addEventListener('error', (event) => {
        this.store.setState({ worker: 'failed' });
        const detail = (event as ErrorEvent).message || 'it failed to load';
        pushNotice(
          'error',
          'worker-crashed',
          `The training worker stopped: ${detail}. Reload the page to start again.`,
        );
      });
      const remote = connectTrainer(worker);
      await subscribeEvents(remote, (event) => this.onEvent(event));
      this.remote = remote;
      this.store.setState({ worker: 'ready' });
      return remote;
    })();
    return this.starting;
  }

  private onEvent(event: WorkerEvent): void {
    this.lab.onEvent(event);
    const state = this.store.getState();
    const change = reduceWorkerEvent(state, event);
    if (!change) return;
    this.store.setState(change);
    const run = this.store.getState().run;
    if (event.type === 'metrics' && run.state === 'running') void this.refreshSnapshot(false);
    if (event.type === 'paused' || event.type === 'rolled-back') void this.refreshSnapshot(true);
  }

  /** Runs one user action; a rejection becomes a notice of the given kind. Returns whether it succeeded. */
  private async act(name: string, kind: string, action: (remote: TrainerRemote) => Promise<void>) {
    const { run } = this.store.getState();
    if (run.pending) return false;
    this.store.setState({ run: { ...run, pending: name } });
    try {
      await action(await this.connect());
      return true;
    } catch (error) {
      const text = messageOf(error);
      // The worker may have announced the same failure as an event already (e.g. a GPU error ending a step).
      if (!this.store.getState().notices.some((n) => n.text === text)) pushNotice('error', kind, text);
      return false;
    } finally {
      this.store.setState((s) => ({ run: { ...s.run, pending: null } }));
    }
  }

  /** Configures a new run from the form when there is none or a setting that needs one has changed. */
  private async ensureRun(remote: TrainerRemote, fresh = false): Promise<void> {
    const { form, run } = this.store.getState();
    if (!fresh && run.runId && !needsNewRun(run.configuredForm, form)) return;
    const check = checkForm(form);
    if (!check.ok) throw new Error(check.message);
    if (run.state === 'running') await remote.pause();
    const { gpu } = this.store.getState();
    const software = gpu.state === 'ready' && gpu.summary.isSoftware;
    const result = await remote.configure({ ...check.config, metricsEvery: metricsEveryFor(software) });
    this.store.setState((s) => ({
      run: {
        ...INITIAL_RUN,
        pending: s.run.pending,
        runId: result.runId,
        state: 'idle',
        configuredForm: form,
        parameterCount: result.parameterCount,
        model: result.model,
        warnings: result.warnings,
      },
      metrics: [],
      snapshot: undefined,
      // Earlier notices were about the old run.
      notices: s.notices.filter((n) => n.kind === 'worker-crashed'),
    }));
    rememberForm(result.runId, form);
    this.lab.onConfigured(result, form, this.lab.takeQueued());
  }

  /** Starts a new run with these settings (the lab's queue): the form shows them. */
  startFresh(form: PlaygroundForm): Promise<boolean> {
    this.store.getState().setForm(form);
    return this.act('start', 'config', async (remote) => {
      await this.ensureRun(remote, true);
      await remote.start();
      this.store.setState((s) =>
        s.run.state === 'idle' || s.run.state === 'paused' ? { run: { ...s.run, state: 'running' } } : {},
      );
    });
  }

  start(): Promise<boolean> {
    return this.act('start', 'config', async (remote) => {
      // A finished run has used up its schedule: Start begins a new one (its weights stay exportable until then).
      await this.ensureRun(remote, this.store.getState().run.state === 'finished');
      await remote.start();
      // The worker also announces this; an event that already moved the run on (e.g. a pause) wins.
      this.store.setState((s) =>
        s.run.state === 'idle' || s.run.state === 'paused' ? { run: { ...s.run, state: 'running' } } : {},
      );
    });
  }

  pause(): Promise<boolean> {
    return this.act('pause', 'action', async (remote) => {
      await remote.pause();
      await this.refreshSnapshot(true);
    });
  }

  step(n = 1): Promise<boolean> {
    return this.act('step', 'config', async (remote) => {
      await this.ensureRun(remote);
      const result = await remote.step(n);
      this.store.setState((s) => ({ run: { ...s.run, step: result.step } }));
      await this.refreshSnapshot(true);
      this.lab.refreshCustom();
    });
  }

  reset(): Promise<boolean> {
    return this.act('reset', 'action', async (remote) => {
      const previous = this.store.getState().run;
      const runId = await remote.reset();
      // The worker rebuilds the run from its configuration, i.e. the mask ratio it started with: keep the
      // slider's value instead, which is what the user sees.
      await remote.setMaskRatio(this.store.getState().form.maskRatio);
      const { configuredForm } = this.store.getState().run;
      if (configuredForm) {
        rememberForm(runId, configuredForm);
        if (previous.model)
          this.lab.onConfigured(
            {
              runId,
              model: previous.model,
              parameterCount: previous.parameterCount ?? 0,
              warnings: previous.warnings,
              runConfig: checkForm(configuredForm).ok
                ? (checkForm(configuredForm) as { config: ConfigureResult['runConfig'] }).config
                : undefined,
            },
            { ...configuredForm, maskRatio: this.store.getState().form.maskRatio },
          );
      }
      this.store.setState((s) => ({
        run: { ...s.run, runId, state: 'idle', step: 0, lastCheckpoint: undefined },
        metrics: [],
        snapshot: undefined,
      }));
      // Fresh weights on a held-out batch: the starting point the next steps improve on.
      await this.refreshSnapshot(true);
    });
  }

  /** Lists the checkpoints an earlier visit left (the worker keeps them in IndexedDB), newest first. */
  async loadSavedRuns(): Promise<void> {
    try {
      const remote = await this.connect();
      const list = await remote.listCheckpoints();
      list.sort((a, b) => b.savedAt.localeCompare(a.savedAt));
      this.store.setState({ savedRuns: list });
    } catch (error) {
      pushNotice('warning', 'saved-runs', `Saved runs could not be listed: ${messageOf(error)}`);
    }
    await this.refreshStorage();
  }

  private persistenceAsked = false;

  /**
   * Asks once for persistent storage (so the browser does not evict checkpoints when space runs low) and
   * shows how much the site stores against its quota.
   */
  async refreshStorage(storage: StorageManager | undefined = globalThis.navigator?.storage): Promise<void> {
    if (!storage?.estimate) return;
    try {
      let persisted = (await storage.persisted?.()) ?? false;
      if (!persisted && !this.persistenceAsked && storage.persist) {
        this.persistenceAsked = true;
        persisted = await storage.persist();
      }
      const { usage = 0, quota = 0 } = await storage.estimate();
      this.store.setState({ storage: { usage, quota, persisted } });
    } catch {
      // Storage estimates are informative only; a browser that refuses them leaves the line out.
    }
  }

  /** Restores a saved run (weights, optimizer state, data position) and shows it paused at its step. */
  resume(info: CheckpointInfo): Promise<boolean> {
    return this.act('restore', 'restore', async (remote) => {
      const restored = await remote.restoreCheckpoint(info.name);
      const runId = restored.runId || info.name;
      const saved = recallForm(runId);
      const form = saved ?? this.store.getState().form;
      // The slider shows the form's ratio; make the restored run use it too.
      await remote.setMaskRatio(form.maskRatio);
      this.store.setState((s) => ({
        form,
        run: {
          ...INITIAL_RUN,
          pending: s.run.pending,
          runId,
          state: 'paused',
          step: restored.step,
          configuredForm: form,
        },
        metrics: [],
        snapshot: undefined,
        savedRuns: s.savedRuns.filter((c) => c.name !== info.name),
        notices: s.notices.filter((n) => n.kind === 'worker-crashed'),
      }));
      pushNotice(
        'info',
        'restored',
        `Resumed the run saved at step ${restored.step}.` +
          (saved ? '' : ' Its settings were not found in this browser, so the form shows the current ones.'),
      );
      await this.refreshSnapshot(true);
    });
  }

  deleteSavedRun(info: CheckpointInfo): Promise<boolean> {
    return this.act('delete', 'saved-runs', async (remote) => {
      await remote.deleteCheckpoint(info.name);
      forgetForm(info.runId || info.name);
      this.store.setState((s) => ({ savedRuns: s.savedRuns.filter((c) => c.name !== info.name) }));
      await this.refreshStorage();
    });
  }

  /**
   * Live: the form follows the slider at once; the worker gets the value once the slider rests (each change
   * briefly stops its step loop) and applies it from the next step.
   */
  setMaskRatio(ratio: number): void {
    this.store.getState().setForm({ maskRatio: ratio });
    clearTimeout(this.maskRatioTimer);
    this.maskRatioTimer = setTimeout(() => void this.sendMaskRatio(ratio), MASK_RATIO_SETTLE_MS);
  }

  private async sendMaskRatio(ratio: number): Promise<void> {
    const { run, form } = this.store.getState();
    if (!checkForm({ ...form, maskRatio: ratio }).ok || !run.runId || !this.remote) return;
    // A finished or failed run keeps the ratio it ran with (its kept record says so); the next run takes it.
    if (run.state === 'finished' || run.state === 'failed') return;
    try {
      await this.remote.setMaskRatio(ratio);
      this.lab.onMaskRatio(ratio);
      this.lab.refreshCustom();
      // A resumed run should come back with the ratio it was last trained with.
      rememberForm(run.runId, { ...(recallForm(run.runId) ?? form), maskRatio: ratio });
    } catch (error) {
      pushNotice('error', 'config', messageOf(error));
    }
  }

  /** Fetches a snapshot unless one is in flight; `force` ignores the pacing used while training. */
  async refreshSnapshot(force: boolean): Promise<void> {
    const { run } = this.store.getState();
    const remote = this.remote;
    if (!remote || !run.runId) return;
    if (this.snapshotInFlight) {
      // The one in flight may predate what the caller just did (a step, a pause): fetch again after it.
      if (force) this.snapshotAgain = true;
      return;
    }
    if (!force) {
      const metrics = this.store.getState().metrics;
      const stepMs = metrics.length > 0 ? metrics[metrics.length - 1].stepMs : 0;
      const interval = Math.max(SNAPSHOT_INTERVAL_MS, SNAPSHOT_MIN_STEPS * stepMs);
      if (performance.now() - this.lastSnapshotAt < interval) return;
    }
    this.snapshotInFlight = true;
    this.lastSnapshotAt = performance.now();
    try {
      const snapshot = await remote.snapshot(Math.min(SNAPSHOT_IMAGES, run.configuredForm?.batchSize ?? 2));
      if (snapshot.runId === this.store.getState().run.runId) this.store.setState({ snapshot });
    } catch (error) {
      pushNotice('warning', 'snapshot', `The reconstruction could not be fetched: ${messageOf(error)}`);
    } finally {
      this.snapshotInFlight = false;
    }
    if (this.snapshotAgain) {
      this.snapshotAgain = false;
      await this.refreshSnapshot(true);
    }
  }

  exportWeights(): Promise<boolean> {
    return this.act('export', 'export', async (remote) => {
      const { run } = this.store.getState();
      if (!run.runId) throw new Error('There are no weights to export yet: start or step a run first.');
      download(
        await remote.exportWeights(),
        `sparklab-${run.configuredForm?.preset ?? 'run'}-step${run.step}.safetensors`,
      );
    });
  }

  exportEncoder(): Promise<boolean> {
    return this.act('export', 'export', async (remote) => {
      const { run } = this.store.getState();
      if (!run.runId) throw new Error('There is no encoder to export yet: start or step a run first.');
      download(
        await remote.exportEncoder(),
        `sparklab-${run.configuredForm?.preset ?? 'run'}-step${run.step}-encoder-timm.safetensors`,
      );
    });
  }

  /** The current run's weights as a safetensors file (configuration in its metadata), for the probe panel. */
  async runWeights(): Promise<Uint8Array | null> {
    if (!this.store.getState().run.runId) return null;
    return (await this.connect()).exportWeights();
  }

  /** The run as a PyTorch .pth: the official SparK checkpoint or the timm-style encoder (docs/SCALE-OUT.md). */
  exportPth(format: 'official-pth' | 'timm-pth'): Promise<boolean> {
    return this.act('export', 'export', async (remote) => {
      const { run } = this.store.getState();
      if (!run.runId) throw new Error('There is nothing to export yet: start or step a run first.');
      const suffix = format === 'official-pth' ? 'withdecoder-spark-style' : 'encoder-timm';
      download(
        await remote.exportPth(format),
        `sparklab-${run.configuredForm?.preset ?? 'run'}-step${run.step}-${suffix}.pth`,
      );
    });
  }

  /**
   * Loads a safetensors file into the active run, even when the form has changed since it was configured
   * (a new run would replace the trained one); only without any run is one configured first. A refused file
   * leaves the run's weights untouched, and the notice says "unchanged" only when there were weights.
   */
  importWeights(file: File): Promise<boolean> {
    return this.act('import', 'import-refused', async (remote) => {
      const hadRun = Boolean(this.store.getState().run.runId);
      if (!hadRun) await this.ensureRun(remote);
      const bytes = new Uint8Array(await file.arrayBuffer());
      let result: Awaited<ReturnType<TrainerRemote['importWeights']>>;
      try {
        result = await remote.importWeights(Comlink.transfer(bytes, transferables(bytes)));
      } catch (error) {
        throw new Error(
          `${file.name} was not loaded: ${messageOf(error)}` +
            (hadRun
              ? ' The current weights are unchanged.'
              : ' The new run keeps the weights it was initialised with.'),
        );
      }
      const extra = result.unexpected.length > 0 ? `; ${result.unexpected.length} unknown names ignored` : '';
      const missing = result.missing.length > 0 ? `; ${result.missing.length} tensors kept their values` : '';
      pushNotice('info', 'imported', `Loaded ${result.loaded} tensors from ${file.name}${extra}${missing}.`);
      await this.refreshSnapshot(true);
    });
  }

  /**
   * Opens a `.pth` of any buildable SparK architecture for viewing (src/worker/checkpoint-viewer.ts): the File
   * is read in the worker in ranges, with progress; the run is untouched. Rejects with the worker's sentence.
   */
  async viewCheckpoint(
    file: File,
    options: CheckpointViewOptions,
    onProgress: (bytesRead: number, bytesTotal: number) => void,
  ): Promise<CheckpointViewResult> {
    const remote = await this.connect();
    return remote.viewCheckpoint(file, options, Comlink.proxy(onProgress));
  }

  /** Sends picked or dropped files to the worker; refused files come back as reasons shown in the panel. */
  async addImages(files: ImageSource[]): Promise<void> {
    if (files.length === 0) return;
    this.store.setState((s) => ({ images: { ...s.images, pending: true } }));
    try {
      const remote = await this.connect();
      const result = await remote.addImages(files);
      this.store.setState((s) => ({ images: mergeImages(s.images, result) }));
      if (result.added > 0 && this.store.getState().form.dataset !== 'user')
        this.store.getState().setForm({ dataset: 'user' });
    } catch (error) {
      this.store.setState((s) => ({ images: { ...s.images, pending: false } }));
      pushNotice('error', 'images', messageOf(error));
    }
  }
}
