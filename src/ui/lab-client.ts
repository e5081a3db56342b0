/**
 * The lab's actions on the main thread: keeps every run (from its configure echo to its last metrics), runs
 * the queue one run after another, evaluates the watch set and the held-out yardstick at a stated pace,
 * reconstructs hand-edited masks, keeps runs in IndexedDB within a budget, and builds the exports. The
 * playground client calls the `on…` hooks; every failure ends as a notice.
 */
import { unzipSync, zipSync } from 'fflate';
import { imageGrid, type RgbaPicture } from '../data/grid';
import { gridSize } from '../models/config';
import type { CustomReconResult, LabTrainerRemote, WatchEvalResult } from '../worker/lab-protocol';
import { nestedMasks } from '../worker/nested-mask';
import type { CheckpointInfo, ConfigureResult, WorkerEvent } from '../worker/protocol';
import { exportPng, lossSvg, stackVertically, svgToPng } from './lab-export';
import { loadKeptRuns, runBytes, runsFromFile, runsToFile, saveKeptRuns } from './lab-persist';
import {
  addHeldOut,
  addMetrics,
  type KeptRun,
  metricsCsv,
  newKeptRun,
  pushHistory,
  queuedId,
  updateRun,
  useLabStore,
  WATCH_COUNT,
} from './lab-store';
import { ENGINE_VERSION, encodeLink } from './link';
import { checkForm, type PlaygroundForm } from './run-config';
import { pushNotice, useAppStore } from './store';
import { noLeakComposite } from './teach/lesson-math';
import { type ReconMode, useTeachStore } from './teach/teach-store';

/** The colour of masked cells in the lab's pictures (the reconstruction panel's). */
export const LAB_MASK_COLOR = [52, 56, 72] as const;

/** How often and on how many held-out images the yardstick is measured. */
export interface ReconPictures {
  masked: RgbaPicture;
  /** The official view (hidden patches de-normalised with their own statistics). */
  composite: RgbaPicture;
  /** The no-leak view (visible statistics only). */
  noLeak: RgbaPicture;
}

/** The pictures of one reconstructed image under one mask ([grid, grid], 1 = visible), in both views. */
export function reconPictures(result: CustomReconResult, mask: Uint8Array): ReconPictures {
  const options = {
    size: result.size,
    columns: 1,
    normalization: result.normalization,
    gap: 0,
    background: [255, 255, 255] as const,
  };
  const cells = { data: mask, height: result.grid, width: result.grid };
  const noLeak = noLeakComposite({
    input: result.input,
    prediction: result.prediction,
    mask,
    images: 1,
    size: result.size,
    grid: result.grid,
    patchNormalizedTarget: result.lossTarget === 'patch-norm',
  });
  return {
    masked: imageGrid([{ images: result.input, mask: cells }], { ...options, maskColor: LAB_MASK_COLOR }),
    composite: imageGrid([{ images: result.composite }], options),
    noLeak: imageGrid([{ images: noLeak }], options),
  };
}

export function yardstickPlan(softwareAdapter: boolean): { images: number; every: number } {
  // A software adapter takes seconds per forward pass: fewer images, but still a point every few steps.
  return softwareAdapter ? { images: 4, every: 10 } : { images: 16, every: 50 };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function downloadBytes(bytes: Uint8Array | string, fileName: string, type: string): void {
  const blob = new Blob([bytes as BlobPart], { type });
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

export interface LabHost {
  remote(): Promise<LabTrainerRemote>;
  /** Starts a run from the form (a fresh one); resolves false when it was refused (a notice says why). */
  startFresh(form: PlaygroundForm): Promise<boolean>;
  resume(info: CheckpointInfo): Promise<boolean>;
  /** The browser's storage estimate and persistence (shown with the lab's own budget). */
  refreshStorage(): Promise<void>;
}

export class LabClient {
  private evaluating = false;
  private evaluateAgain = false;
  private lastEvalStep = new Map<string, number>();
  private persistTimer?: ReturnType<typeof setTimeout>;
  private customTimer?: ReturnType<typeof setTimeout>;
  private customSerial = 0;
  private checkpoints: CheckpointInfo[] = [];

  constructor(private readonly host: LabHost) {}

  private get currentRunId(): string | undefined {
    return useAppStore.getState().run.runId;
  }

  private software(): boolean {
    const { gpu } = useAppStore.getState();
    return gpu.state === 'ready' && gpu.summary.isSoftware;
  }

  // ------------------------------------------------------------------ hooks from the playground client

  /** A run was configured by the worker: keep it (a queued run becomes this run). */
  onConfigured(result: ConfigureResult, form: PlaygroundForm, queued?: string): void {
    const config = { ...(result.runConfig ?? {}), model: result.model } as Record<string, unknown>;
    useLabStore.setState((s) => {
      const existing = queued ? s.runs.find((r) => r.id === queued) : undefined;
      const run: KeptRun = existing
        ? { ...existing, id: result.runId, state: 'idle', config, form, createdAt: Date.now() }
        : { ...newKeptRun(s.runs, result.runId, form, 'idle'), config };
      const runs = existing ? s.runs.map((r) => (r.id === queued ? run : r)) : [...s.runs, run];
      const selected = s.selected.filter((id) => id !== queued);
      return { runs, selected: selected.includes(run.id) ? selected : [...selected, run.id].slice(-6) };
    });
    this.persistSoon();
    // The yardstick's first point: the fresh weights, before the first step.
    void this.evaluate();
  }

  /** Every worker event; only the current run's are kept. */
  onEvent(event: WorkerEvent): void {
    if (event.runId !== this.currentRunId) return;
    const id = event.runId;
    switch (event.type) {
      case 'state':
        updateRun(id, () => ({ state: event.state, step: event.step }));
        if (event.state === 'running') this.startClock(id, event.step);
        break;
      case 'metrics': {
        addMetrics(id, event.metrics);
        const plan = yardstickPlan(this.software());
        const last = this.lastEvalStep.get(id) ?? 0;
        if (event.metrics.step - last >= plan.every) void this.evaluate();
        break;
      }
      case 'paused':
        updateRun(id, () => ({
          state: event.reason === 'finished' ? 'finished' : 'paused',
          step: event.step,
        }));
        this.refreshCustom();
        void this.evaluate().then(() => {
          if (event.reason === 'finished') void this.runNextQueued();
        });
        break;
      case 'error':
        updateRun(id, () => ({ state: 'failed' }));
        void this.runNextQueued();
        break;
      default:
        break;
    }
    if (event.type !== 'metrics') this.persistSoon();
  }

  /** The live mask ratio of the current run changed (the worker applies it from the next step). */
  onMaskRatio(ratio: number): void {
    const id = this.currentRunId;
    if (!id) return;
    updateRun(id, (r) => ({
      form: { ...r.form, maskRatio: ratio },
      config: r.config
        ? { ...r.config, model: { ...(r.config.model as Record<string, unknown>), maskRatio: ratio } }
        : r.config,
    }));
  }

  private startClock(runId: string, step: number): void {
    const clock = useLabStore.getState().clock;
    if (clock?.runId === runId && clock.startStep <= step && useAppStore.getState().run.state === 'running')
      return;
    useLabStore.setState({ clock: { runId, startedAt: performance.now(), startStep: step } });
  }

  // ------------------------------------------------------------------ the queue

  enqueue(forms: PlaygroundForm[]): void {
    const problems = forms.map((f) => checkForm(f)).filter((c) => !c.ok);
    if (problems.length > 0) {
      pushNotice('error', 'queue', (problems[0] as { message: string }).message);
      return;
    }
    useLabStore.setState((s) => {
      const runs = [...s.runs];
      for (const form of forms) runs.push(newKeptRun(runs, queuedId(), form, 'queued'));
      return { runs };
    });
    this.persistSoon();
  }

  /** The current settings at mask ratios 0.4, 0.6 and 0.8, queued and started. */
  sweepMaskRatio(): void {
    const form = useAppStore.getState().form;
    this.enqueue([0.4, 0.6, 0.8].map((maskRatio) => ({ ...form, maskRatio })));
    void this.runQueue();
  }

  /** The current settings over `n` seeds (the chart draws their mean and spread), queued and started. */
  repeatSeeds(n = 3): void {
    const form = useAppStore.getState().form;
    this.enqueue(Array.from({ length: n }, (_, i) => ({ ...form, seed: form.seed + i })));
    void this.runQueue();
  }

  async runQueue(): Promise<void> {
    useLabStore.setState({ queueActive: true });
    const state = useAppStore.getState().run.state;
    if (state !== 'running' && !useAppStore.getState().run.pending) await this.runNextQueued();
  }

  clearQueue(): void {
    useLabStore.setState((s) => ({
      runs: s.runs.filter((r) => r.state !== 'queued'),
      queueActive: false,
    }));
    this.persistSoon();
  }

  private async runNextQueued(): Promise<void> {
    if (!useLabStore.getState().queueActive) return;
    const next = useLabStore.getState().runs.find((r) => r.state === 'queued');
    if (!next) {
      useLabStore.setState({ queueActive: false });
      return;
    }
    this.nextQueued = next.id;
    const ok = await this.host.startFresh(next.form);
    if (!ok) {
      updateRun(next.id, () => ({ state: 'failed' }));
      useLabStore.setState({ queueActive: false });
    }
  }

  /** The queued run whose settings the playground is configuring now (taken by `takeQueued`). */
  private nextQueued?: string;

  takeQueued(): string | undefined {
    const id = this.nextQueued;
    this.nextQueued = undefined;
    return id;
  }

  // ------------------------------------------------------------------ watch set and yardstick

  /** Loads the watch-set images for the form's data (the mask preview needs them before any run). */
  async loadWatchImages(): Promise<void> {
    const form = useAppStore.getState().form;
    const check = checkForm(form);
    if (!check.ok || (form.dataset === 'user' && !useAppStore.getState().images.result?.total)) return;
    try {
      const remote = await this.host.remote();
      const offset = useLabStore.getState().watchOffset;
      const images = await remote.watchImages(check.config, offset, WATCH_COUNT);
      useLabStore.setState({ watchImages: images });
      const image = useLabStore.getState().custom?.image ?? offset;
      this.resetCustom(image >= offset && image < offset + WATCH_COUNT ? image : offset);
    } catch (error) {
      pushNotice('warning', 'watch-set', `The watch-set images could not be loaded: ${messageOf(error)}`);
    }
  }

  otherWatchImages(): void {
    useLabStore.setState((s) => {
      const held = s.watchImages?.heldOutCount ?? WATCH_COUNT;
      const offset = s.watchOffset + WATCH_COUNT < held ? s.watchOffset + WATCH_COUNT : 0;
      return { watchOffset: offset };
    });
    void this.loadWatchImages();
  }

  /** Evaluates the current run on the watch set (its own ratio, nested masks) and the yardstick. */
  async evaluate(): Promise<void> {
    const runId = this.currentRunId;
    if (!runId) return;
    if (this.evaluating) {
      this.evaluateAgain = true;
      return;
    }
    this.evaluating = true;
    try {
      const remote = await this.host.remote();
      const plan = yardstickPlan(this.software());
      const { watchOffset } = useLabStore.getState();
      const ratio = useLabStore.getState().runs.find((r) => r.id === runId)?.form.maskRatio ?? 0.6;
      const result = await remote.evaluateWatch({
        offset: watchOffset,
        count: WATCH_COUNT,
        ratios: [ratio],
        yardstickImages: plan.images,
      });
      if (result.runId !== runId) return;
      this.lastEvalStep.set(runId, result.step);
      this.keepWatch(result);
    } catch (error) {
      pushNotice('warning', 'watch-set', `The watch set could not be evaluated: ${messageOf(error)}`);
    } finally {
      this.evaluating = false;
    }
    if (this.evaluateAgain) {
      this.evaluateAgain = false;
      await this.evaluate();
    }
  }

  private keepWatch(result: WatchEvalResult): void {
    if (result.heldOutLoss !== undefined) addHeldOut(result.runId, result.step, result.heldOutLoss);
    const view = result.views[0];
    if (!view) return;
    const options = {
      size: result.size,
      columns: view.mask.length / (result.grid * result.grid),
      normalization: result.normalization,
      gap: 1,
      background: [255, 255, 255] as const,
    };
    const mask = { data: view.mask, height: result.grid, width: result.grid };
    updateRun(result.runId, (run) => ({
      watchHistory:
        run.watch && run.watch.step !== result.step
          ? pushHistory(run.watchHistory, run.watch)
          : run.watchHistory,
      watch: {
        step: result.step,
        ratio: view.ratio,
        visibleCells: view.visibleCells,
        count: options.columns,
        grid: result.grid,
        mask: Array.from(view.mask),
        masked: imageGrid([{ images: result.input, mask }], { ...options, maskColor: LAB_MASK_COLOR }),
        composite: imageGrid([{ images: view.composite }], options),
        noLeak: imageGrid(
          [
            {
              images: noLeakComposite({
                input: result.input,
                prediction: view.prediction,
                mask: view.mask,
                images: options.columns,
                size: result.size,
                grid: result.grid,
                patchNormalizedTarget: result.lossTarget === 'patch-norm',
              }),
            },
          ],
          options,
        ),
      },
    }));
    this.persistSoon();
  }

  // ------------------------------------------------------------------ hand-edited mask

  /** The editor starts from the nested mask of the chosen image at the form's ratio. */
  resetCustom(image = useLabStore.getState().custom?.image ?? useLabStore.getState().watchOffset): void {
    const form = useAppStore.getState().form;
    const check = checkForm(form);
    if (!check.ok) return;
    const grid = gridSize(check.model);
    const cells = Array.from(nestedMasks(grid, form.maskRatio, 1, image));
    const previous = useLabStore.getState().custom;
    useLabStore.setState({
      custom: { image, cells, grid, pending: false, edited: false, result: previous?.result },
    });
    if (useAppStore.getState().run.state !== 'running') this.reconstructSoon();
  }

  /** Hides or shows cell (row, column); the last visible cell stays (the encoder needs one). */
  toggleCell(row: number, column: number): boolean {
    const custom = useLabStore.getState().custom;
    if (!custom) return false;
    const index = row * custom.grid + column;
    const visible = custom.cells.reduce((a, b) => a + b, 0);
    if (custom.cells[index] === 1 && visible === 1) return false;
    const cells = custom.cells.slice();
    cells[index] = cells[index] ? 0 : 1;
    useLabStore.setState({ custom: { ...custom, cells, edited: true } });
    this.reconstructSoon();
    return true;
  }

  private reconstructSoon(): void {
    clearTimeout(this.customTimer);
    this.customTimer = setTimeout(() => void this.reconstructCustom(), 150);
  }

  private async reconstructCustom(): Promise<void> {
    const custom = useLabStore.getState().custom;
    const runId = this.currentRunId;
    if (!custom || !runId) return;
    const serial = ++this.customSerial;
    useLabStore.setState({ custom: { ...custom, pending: true } });
    let result: CustomReconResult;
    try {
      const remote = await this.host.remote();
      result = await remote.reconstructCustom({ image: custom.image, cells: Uint8Array.from(custom.cells) });
    } catch (error) {
      pushNotice(
        'warning',
        'mask-editor',
        `The hand-edited mask could not be reconstructed: ${messageOf(error)}`,
      );
      useLabStore.setState((s) => (s.custom ? { custom: { ...s.custom, pending: false } } : {}));
      return;
    }
    // A later edit supersedes this answer.
    if (serial !== this.customSerial) return;
    const mask = { data: Uint8Array.from(custom.cells), height: result.grid, width: result.grid };
    const pictures = reconPictures(result, mask.data);
    useLabStore.setState((s) =>
      s.custom
        ? {
            custom: {
              ...s.custom,
              pending: false,
              result: {
                runId: result.runId,
                step: result.step,
                visibleCells: result.visibleCells,
                ...pictures,
              },
            },
          }
        : {},
    );
  }

  /**
   * The current run's reconstruction of a picture from the page (HWC RGB bytes at the run's input size) under
   * the nested mask at the run's ratio, as the mask editor draws it. Throws the worker's sentence.
   */
  async reconstructPicture(rgb: Uint8Array): Promise<ReconPictures & { step: number; visibleCells: number }> {
    const remote = await this.host.remote();
    const result = await remote.reconstructImage({ rgb });
    return { step: result.step, visibleCells: result.visibleCells, ...reconPictures(result, result.mask) };
  }

  /**
   * After a step, a pause or the end of a run: the editor shows the current weights. Not while the loop
   * runs: each reconstruction stops it for a moment (the user's own edits still do).
   */
  refreshCustom(): void {
    if (useLabStore.getState().custom && useAppStore.getState().run.state !== 'running')
      this.reconstructSoon();
  }

  /** The slider moved: an editor the user has not touched follows the new ratio. */
  followRatio(): void {
    const custom = useLabStore.getState().custom;
    if (custom && !custom.edited) this.resetCustom(custom.image);
  }

  // ------------------------------------------------------------------ rows

  toggleSelected(id: string): void {
    useLabStore.setState((s) => ({
      selected: s.selected.includes(id) ? s.selected.filter((x) => x !== id) : [...s.selected, id],
    }));
  }

  togglePinned(id: string): void {
    updateRun(id, (r) => ({ pinned: !r.pinned }));
    this.persistSoon();
  }

  async deleteRun(id: string): Promise<void> {
    if (id === this.currentRunId && useAppStore.getState().run.state === 'running') {
      pushNotice('warning', 'runs', 'Pause the run before deleting it.');
      return;
    }
    useLabStore.setState((s) => ({
      runs: s.runs.filter((r) => r.id !== id),
      selected: s.selected.filter((x) => x !== id),
    }));
    await this.deleteCheckpoint(id);
    this.persistSoon();
  }

  private async deleteCheckpoint(id: string): Promise<void> {
    if (!this.checkpoints.some((c) => c.name === id)) return;
    try {
      await (await this.host.remote()).deleteCheckpoint(id);
      this.checkpoints = this.checkpoints.filter((c) => c.name !== id);
    } catch (error) {
      pushNotice('warning', 'runs', `The checkpoint of ${id} could not be deleted: ${messageOf(error)}`);
    }
  }

  checkpointOf(id: string): CheckpointInfo | undefined {
    return this.checkpoints.find((c) => c.name === id);
  }

  async resumeRun(id: string): Promise<void> {
    const info = this.checkpointOf(id);
    if (!info) {
      pushNotice('warning', 'runs', 'This run has no checkpoint in this browser to resume from.');
      return;
    }
    await this.host.resume(info);
  }

  // ------------------------------------------------------------------ persistence

  /** Kept runs from earlier visits, merged with the worker's checkpoints (a checkpoint without a record shows too). */
  async restore(): Promise<void> {
    let stored: KeptRun[] = [];
    try {
      const read = await loadKeptRuns();
      stored = read.runs;
      if (read.unreadable.length > 0)
        pushNotice(
          'warning',
          'storage',
          `${read.unreadable.length} kept run${read.unreadable.length === 1 ? '' : 's'} in this browser cannot be shown by this version of SparkLab and ${read.unreadable.length === 1 ? 'stays' : 'stay'} stored untouched: ${read.unreadable.map((u) => u.reason).join('; ')}.`,
        );
      useLabStore.setState({ storage: { ...useLabStore.getState().storage, persisted: true } });
    } catch (error) {
      pushNotice('warning', 'storage', `Kept runs could not be read from this browser: ${messageOf(error)}`);
    }
    try {
      this.checkpoints = await (await this.host.remote()).listCheckpoints();
    } catch (error) {
      pushNotice('warning', 'saved-runs', `Saved runs could not be listed: ${messageOf(error)}`);
    }
    const runs = stored.map((r) =>
      // A run that was training when the page closed stopped there; its checkpoint resumes it.
      r.state === 'running' || r.state === 'recovering' ? { ...r, state: 'paused' as const } : r,
    );
    const inMemory = useLabStore.getState().runs;
    for (const info of [...this.checkpoints].sort((a, b) => a.savedAt.localeCompare(b.savedAt))) {
      // A checkpoint without a kept record (an older page saved it) still gets a row to resume it from.
      if (runs.some((r) => r.id === info.name) || inMemory.some((r) => r.id === info.name)) continue;
      const form = useAppStore.getState().form;
      runs.push({
        ...newKeptRun(runs, info.name, form, 'paused'),
        step: info.step,
        createdAt: Date.parse(info.savedAt),
      });
    }
    useLabStore.setState((s) => ({
      runs: [...runs, ...s.runs.filter((r) => !runs.some((x) => x.id === r.id))],
    }));
    this.updateUsage();
    await this.host.refreshStorage();
  }

  persistSoon(): void {
    clearTimeout(this.persistTimer);
    this.persistTimer = setTimeout(() => void this.persist(), 800);
  }

  private async persist(): Promise<void> {
    try {
      this.checkpoints = await (await this.host.remote()).listCheckpoints();
    } catch {
      // The list only sizes the budget; the last one known is used.
    }
    await this.enforceBudget();
    try {
      await saveKeptRuns(useLabStore.getState().runs);
      await this.host.refreshStorage();
    } catch (error) {
      pushNotice('warning', 'storage', `Kept runs could not be saved in this browser: ${messageOf(error)}`);
    }
  }

  private usage(): number {
    const runs = useLabStore.getState().runs;
    let bytes = runs.reduce((sum, r) => sum + runBytes(r), 0);
    for (const c of this.checkpoints) bytes += c.bytes;
    return bytes;
  }

  private updateUsage(): void {
    useLabStore.setState((s) => ({ storage: { ...s.storage, usedBytes: this.usage() } }));
  }

  /** Over budget: the oldest unpinned run (not the current one) goes, with a notice. */
  async enforceBudget(): Promise<void> {
    const budget = useLabStore.getState().storage.budgetBytes;
    while (this.usage() > budget) {
      const victim = useLabStore
        .getState()
        .runs.filter((r) => !r.pinned && r.id !== this.currentRunId && r.state !== 'queued')
        .sort((a, b) => a.createdAt - b.createdAt)[0];
      if (!victim) {
        pushNotice(
          'warning',
          'storage',
          'The kept runs exceed the storage budget but every other run is pinned: unpin or delete one.',
        );
        break;
      }
      await this.deleteRun(victim.id);
      pushNotice(
        'warning',
        'storage',
        `The storage budget (${(budget / 2 ** 20).toFixed(1)} MiB) was reached: run ${victim.label} (the oldest unpinned) and its checkpoint were removed.`,
      );
    }
    this.updateUsage();
  }

  exportRuns(): void {
    const { runs, selected } = useLabStore.getState();
    const chosen = runs.filter((r) => selected.includes(r.id) && r.state !== 'queued');
    const list = chosen.length > 0 ? chosen : runs.filter((r) => r.state !== 'queued');
    downloadBytes(runsToFile(list, ENGINE_VERSION), 'sparklab-runs.json', 'application/json');
  }

  async importRuns(file: File): Promise<void> {
    try {
      const runs = runsFromFile(await file.text(), file.name);
      let added = 0;
      useLabStore.setState((s) => {
        const fresh = runs.filter((r) => !s.runs.some((x) => x.id === r.id));
        added = fresh.length;
        return { runs: [...s.runs, ...fresh] };
      });
      pushNotice(
        'info',
        'runs',
        `Imported ${added} run${added === 1 ? '' : 's'} from ${file.name} (curves and thumbnails; no weights).`,
      );
      this.persistSoon();
    } catch (error) {
      pushNotice('error', 'runs', `${messageOf(error)} Nothing was imported.`);
    }
  }

  // ------------------------------------------------------------------ exports

  /** The run whose CSV "download metrics" gives: the first selected, else the current one. */
  private reportRun(): KeptRun | undefined {
    const { runs, selected } = useLabStore.getState();
    return runs.find((r) => r.id === selected[0]) ?? runs.find((r) => r.id === this.currentRunId);
  }

  downloadMetrics(): void {
    const run = this.reportRun();
    if (!run) {
      pushNotice('warning', 'export', 'There is no run with metrics yet.');
      return;
    }
    downloadBytes(metricsCsv(run), `sparklab-${run.label.slice(1)}-metrics.csv`, 'text/csv');
  }

  async downloadPicture(picture: RgbaPicture | undefined, fileName: string): Promise<void> {
    if (!picture) {
      pushNotice('warning', 'export', 'There is no picture to download yet.');
      return;
    }
    downloadBytes(await exportPng(picture), fileName, 'image/png');
  }

  /** A zip: the link, each compared run's configuration and curves (CSV), the loss chart (SVG), the watch grid. */
  async downloadReport(): Promise<void> {
    const { runs, selected } = useLabStore.getState();
    const chosen = runs.filter((r) => selected.includes(r.id) && r.state !== 'queued');
    const list = chosen.length > 0 ? chosen : runs.filter((r) => r.id === this.currentRunId);
    if (list.length === 0) {
      pushNotice('warning', 'export', 'There is no run to report yet.');
      return;
    }
    const text = (s: string) => new TextEncoder().encode(s);
    const files: Record<string, Uint8Array> = {};
    const base = `${location.origin}${location.pathname}`;
    files['link.txt'] = text(
      `${list.map((r) => `${r.label}: ${base}${encodeLink({ form: r.form })}`).join('\n')}\n` +
        (list.some((r) => r.userImages) ? 'Runs on your own images: a link cannot carry them.\n' : ''),
    );
    files['runs.json'] = text(
      JSON.stringify(
        list.map((r) => ({
          label: r.label,
          id: r.id,
          state: r.state,
          step: r.step,
          config: r.config ?? r.form,
        })),
        null,
        2,
      ),
    );
    for (const r of list) files[`metrics-${r.label.slice(1)}.csv`] = text(metricsCsv(r));
    const curves = lossSvg(list);
    files['loss.svg'] = text(curves);
    // The same picture as PNG, for tools that take no SVG (the SVG's default size is 640×360).
    files['loss.png'] = await svgToPng(curves, 640, 360);
    const thumbs = list.filter((r) => r.watch);
    const mode = useTeachStore.getState().reconMode;
    if (thumbs.length > 0) files['watch-set.png'] = await exportPng(stackPictures(thumbs, mode));
    files['README.txt'] = text(
      `SparkLab lab report, engine ${ENGINE_VERSION}, ${new Date().toISOString()}.\n` +
        'loss.svg, loss.png: training loss (solid) and held-out loss (dashed) of each run.\n' +
        `watch-set.png: per run, the masked watch-set images (nested masks) and the reconstruction (${mode} view).\n` +
        'heldout_loss: masked, per-patch-normalised loss at mask ratio 0.6 on held-out images.\n',
    );
    const zip = zipSync(files, { level: 6 });
    // Checked here so a broken archive is never offered as a report.
    unzipSync(zip);
    downloadBytes(zip, 'sparklab-report.zip', 'application/zip');
  }
}

/** The watch-set reconstruction in the chosen view (official when the no-leak one was not kept). */
export function watchComposite(watch: NonNullable<KeptRun['watch']>, mode: ReconMode): RgbaPicture {
  return mode === 'no-leak' && watch.noLeak ? watch.noLeak : watch.composite;
}

/** The masked and reconstructed watch-set rows of several runs, one under the other. */
export function stackPictures(runs: KeptRun[], mode: ReconMode = 'official'): RgbaPicture {
  return stackVertically(
    runs.flatMap((r) => (r.watch ? [r.watch.masked, watchComposite(r.watch, mode)] : [])),
  );
}
