/**
 * Kept runs in this browser (IndexedDB `sparklab-lab`, one record per run; checkpoints stay in the worker's
 * own store under the run id) and kept runs in a file (JSON: configuration, curves, watch-set thumbnails as
 * base64 RGBA). Reading a file checks every field it uses and says in a sentence what is wrong.
 */
import type { RgbaPicture } from '../data/grid';
import type { KeptRun, WatchThumb } from './lab-store';
import { checkKeptProbe } from './probe-results';
import { completeForm } from './run-config';

const DB_NAME = 'sparklab-lab';
const DB_VERSION = 1;
const STORE = 'runs';
/**
 * Schema of one stored run record. Records carry it so that a page of another SparkLab version can tell a
 * record it cannot read from a damaged one, say so, and leave it in storage instead of dropping it.
 * Records written before the field existed (schema 0) have the schema-1 shape and are read as such.
 */
export const KEPT_RUN_SCHEMA = 1;

/** A stored record this page could not show, and why (said to the user; the record stays stored). */
export interface UnreadableRun {
  id: string;
  reason: string;
}

/** Ids of stored records this page could not read: saving never deletes them. */
const unreadableIds = new Set<string>();
export const RUNS_FILE_FORMAT = 'sparklab-kept-runs';
const RUNS_FILE_VERSION = 1;

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => {
      if (!request.result.objectStoreNames.contains(STORE))
        request.result.createObjectStore(STORE, { keyPath: 'id' });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB could not be opened.'));
  });
}

function done(transaction: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error ?? new Error('An IndexedDB write failed.'));
    transaction.onabort = () => reject(transaction.error ?? new Error('An IndexedDB write was aborted.'));
  });
}

export async function loadKeptRuns(): Promise<{ runs: KeptRun[]; unreadable: UnreadableRun[] }> {
  const db = await openDb();
  try {
    const request = db.transaction(STORE, 'readonly').objectStore(STORE).getAll();
    const records = await new Promise<unknown[]>((resolve, reject) => {
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const read = readStoredRuns(records);
    for (const { id } of read.unreadable) unreadableIds.add(id);
    return read;
  } finally {
    db.close();
  }
}

/** Sorts stored records into runs this page shows and records it cannot read (with the reason). */
export function readStoredRuns(records: unknown[]): { runs: KeptRun[]; unreadable: UnreadableRun[] } {
  const runs: KeptRun[] = [];
  const unreadable: UnreadableRun[] = [];
  for (const record of records) {
    const id = isObject(record) && typeof record.id === 'string' ? record.id : '';
    const schema = isObject(record) && record.schema !== undefined ? record.schema : 0;
    if (typeof schema !== 'number' || !Number.isInteger(schema) || schema > KEPT_RUN_SCHEMA) {
      unreadable.push({
        id,
        reason: `run ${id || '?'} was saved by a newer SparkLab (record schema ${String(schema)}; this page reads ${KEPT_RUN_SCHEMA}); open it with that version`,
      });
      continue;
    }
    try {
      runs.push(checkRun(record, 'a stored run'));
    } catch (error) {
      unreadable.push({ id, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return { runs, unreadable };
}

/** Stored keys a save removes: runs no longer kept, never records this page could not read. */
export function keysToDelete(
  storedKeys: readonly string[],
  kept: readonly KeptRun[],
  unreadable: ReadonlySet<string>,
): string[] {
  const keep = new Set(kept.map((r) => r.id));
  return storedKeys.filter((key) => !keep.has(key) && !unreadable.has(key));
}

/** Writes the runs given and removes stored ones not among them. */
export async function saveKeptRuns(runs: KeptRun[]): Promise<void> {
  const db = await openDb();
  try {
    const transaction = db.transaction(STORE, 'readwrite');
    const store = transaction.objectStore(STORE);
    const keys = store.getAllKeys();
    keys.onsuccess = () => {
      for (const key of keysToDelete(keys.result.map(String), runs, unreadableIds)) store.delete(key);
    };
    for (const run of runs) store.put({ ...run, schema: KEPT_RUN_SCHEMA });
    await done(transaction);
  } finally {
    db.close();
  }
}

/** Bytes a kept run takes in storage (its record; the checkpoint is counted from the worker's list). */
export function runBytes(run: KeptRun): number {
  const thumbs = [...(run.watch ? [run.watch] : []), ...(run.watchHistory ?? [])];
  const pictures = thumbs.reduce(
    (sum, t) =>
      sum +
      t.masked.data.byteLength +
      t.composite.data.byteLength +
      (t.noLeak?.data.byteLength ?? 0) +
      t.mask.length * 2,
    0,
  );
  const { watch: _watch, watchHistory: _history, ...rest } = run;
  return JSON.stringify(rest).length + pictures;
}

// ------------------------------------------------------------------ files

function toBase64(bytes: Uint8ClampedArray): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function fromBase64(text: string): Uint8ClampedArray {
  const raw = atob(text);
  const out = new Uint8ClampedArray(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function pictureToJson(p: RgbaPicture) {
  return { width: p.width, height: p.height, rgba: toBase64(p.data) };
}

function thumbToJson(t: WatchThumb) {
  return {
    ...t,
    masked: pictureToJson(t.masked),
    composite: pictureToJson(t.composite),
    noLeak: t.noLeak ? pictureToJson(t.noLeak) : undefined,
  };
}

export function runsToFile(runs: KeptRun[], engineVersion: string): string {
  return JSON.stringify({
    format: RUNS_FILE_FORMAT,
    version: RUNS_FILE_VERSION,
    engineVersion,
    runs: runs.map((run) => ({
      ...run,
      watch: run.watch ? thumbToJson(run.watch) : undefined,
      watchHistory: run.watchHistory?.map(thumbToJson),
    })),
  });
}

class FileFormatError extends Error {}

function fail(message: string): never {
  throw new FileFormatError(message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function picture(v: unknown, where: string): RgbaPicture {
  if (!isObject(v)) fail(`${where} is not a picture.`);
  const { width, height } = v;
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    (width as number) < 1 ||
    (height as number) < 1
  )
    fail(`${where} has no valid size.`);
  const data = v.rgba !== undefined ? fromBase64(String(v.rgba)) : v.data;
  if (!(data instanceof Uint8ClampedArray) || data.length !== (width as number) * (height as number) * 4)
    fail(`${where} does not hold ${width}×${height} RGBA pixels.`);
  return { width: width as number, height: height as number, data };
}

const STATES = new Set([
  'unconfigured',
  'idle',
  'queued',
  'running',
  'paused',
  'recovering',
  'finished',
  'failed',
]);

/** A kept run from storage or a file, checked field by field. */
export function checkRun(value: unknown, where: string): KeptRun {
  if (!isObject(value)) fail(`${where} is not a run.`);
  const id = value.id;
  if (typeof id !== 'string' || id.length === 0 || id.length > 100) fail(`${where} has no run id.`);
  if (!Array.isArray(value.metrics)) fail(`${where} (${id}) has no metrics list.`);
  const metrics = value.metrics.filter(
    (m): m is KeptRun['metrics'][number] =>
      isObject(m) && Number.isFinite(m.step) && typeof m.loss === 'number',
  );
  const heldOut = Array.isArray(value.heldOut)
    ? value.heldOut.filter(
        (h): h is { step: number; loss: number } =>
          isObject(h) && Number.isFinite(h.step) && Number.isFinite(h.loss),
      )
    : [];
  const thumb = (w: Record<string, unknown>, what: string): WatchThumb => ({
    step: Number(w.step) || 0,
    ratio: Number(w.ratio) || 0,
    visibleCells: Number(w.visibleCells) || 0,
    count: Number(w.count) || 0,
    grid: Number(w.grid) || 0,
    mask: Array.isArray(w.mask) ? w.mask.map((v) => (v ? 1 : 0)) : [],
    masked: picture(w.masked, `${where} (${id}) masked ${what}`),
    composite: picture(w.composite, `${where} (${id}) reconstruction ${what}`),
    ...(w.noLeak ? { noLeak: picture(w.noLeak, `${where} (${id}) no-leak ${what}`) } : {}),
  });
  const watch = isObject(value.watch) ? thumb(value.watch, 'thumbnail') : undefined;
  const watchHistory = Array.isArray(value.watchHistory)
    ? value.watchHistory.filter(isObject).map((w) => thumb(w, 'thumbnail of an earlier step'))
    : undefined;
  const state = STATES.has(String(value.state)) ? (value.state as KeptRun['state']) : 'finished';
  const probe = checkKeptProbe(value.probe);
  return {
    id,
    label: typeof value.label === 'string' ? value.label.slice(0, 12) : '#?',
    state,
    form: completeForm(isObject(value.form) ? (value.form as Partial<KeptRun['form']>) : {}),
    ...(isObject(value.config) ? { config: value.config } : {}),
    metrics,
    heldOut,
    ...(watch ? { watch } : {}),
    ...(watchHistory && watchHistory.length > 0 ? { watchHistory } : {}),
    step: Number.isFinite(value.step) ? Number(value.step) : 0,
    createdAt: Number.isFinite(value.createdAt) ? Number(value.createdAt) : Date.now(),
    pinned: value.pinned === true,
    userImages: value.userImages === true,
    ...(value.imported === true ? { imported: true } : {}),
    ...(probe ? { probe } : {}),
  };
}

/** Kept runs from a file written by `runsToFile`; throws a sentence when the file is not one. */
export function runsFromFile(text: string, fileName: string): KeptRun[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${fileName} is not a kept-runs file: it is not JSON.`);
  }
  try {
    if (!isObject(parsed) || parsed.format !== RUNS_FILE_FORMAT)
      fail(`${fileName} is not a kept-runs file (no "format": "${RUNS_FILE_FORMAT}").`);
    if (parsed.version !== RUNS_FILE_VERSION)
      fail(
        `${fileName} is a kept-runs file of version ${String(parsed.version)}; this page reads version 1.`,
      );
    if (!Array.isArray(parsed.runs)) fail(`${fileName} holds no list of runs.`);
    return parsed.runs.map((run, i) => ({
      ...checkRun(run, `run ${i + 1} of ${fileName}`),
      imported: true,
      state: 'finished' as const,
    }));
  } catch (error) {
    if (error instanceof FileFormatError) throw new Error(error.message);
    throw error;
  }
}
