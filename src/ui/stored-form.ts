/**
 * State the page keeps in localStorage (and, later, in links) is read back by a newer SparkLab than the one
 * that wrote it, or after someone edited it. Each value is stored in a versioned envelope `{v, data}`;
 * reading validates every field and returns either the value or a sentence saying why it was set aside —
 * never a half-valid object that blanks the page when a panel reads `PRESETS[form.preset]`.
 *
 * Versions: 0 = the bare form written before envelopes existed (migrated after validation, missing fields
 * filled with defaults); 1 = `{v: 1, data: form}`, also completed when a later field was added.
 */
import { PRESETS } from '../models/presets';
import {
  ABLATIONS,
  completeForm,
  type DatasetChoice,
  formForPreset,
  type PlaygroundForm,
} from './run-config';

export const FORM_SCHEMA_VERSION = 1;

const DATASETS: readonly DatasetChoice[] = ['fashion-mnist', 'photos', 'user'];

export type Recalled<T> = { ok: true; value: T } | { ok: false; reason: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The form if every field has the right type and range, else the first problem. Fields this SparkLab does
 * not know are dropped; fields an older page did not save are filled with the defaults (`completeForm`).
 */
export function checkStoredForm(value: unknown): Recalled<PlaygroundForm> {
  if (!isObject(value)) return { ok: false, reason: 'it is not an object' };
  const bad = (field: string) => ({ ok: false as const, reason: `its ${field} is not valid` });
  if (typeof value.preset !== 'string' || !Object.hasOwn(PRESETS, value.preset)) return bad('preset');
  if (!DATASETS.includes(value.dataset as DatasetChoice)) return bad('data source');
  const m = value.maskRatio;
  if (typeof m !== 'number' || !(m >= 0 && m < 1)) return bad('mask ratio');
  const whole = (v: unknown, min: number) => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
  if (!whole(value.batchSize, 2)) return bad('batch size');
  if (!whole(value.steps, 1)) return bad('number of steps');
  if (!whole(value.seed, 0)) return bad('seed');
  const form = completeForm(value as Partial<PlaygroundForm>);
  const defaults = formForPreset(form.preset);
  const known: Record<string, unknown> = {};
  for (const key of Object.keys(defaults) as (keyof PlaygroundForm)[]) {
    const v = form[key];
    // Typed text fields stay short; every field has the type of its default.
    if (typeof v !== typeof defaults[key] || (typeof v === 'string' && v.length > 64)) return bad(key);
    known[key] = v;
  }
  for (const ablation of ABLATIONS) {
    if (!ablation.options.some(([option]) => option === form[ablation.field])) return bad(ablation.field);
  }
  if (!['', 'lamb', 'adamw'].includes(form.optimizer)) return bad('optimizer');
  return { ok: true, value: known as unknown as PlaygroundForm };
}

/** The stored text of a form, in the current envelope. */
export function storeForm(form: PlaygroundForm): string {
  return JSON.stringify({ v: FORM_SCHEMA_VERSION, data: form });
}

/** Reads a stored form of any version this SparkLab knows; otherwise the reason, as a sentence fragment. */
export function recallStoredForm(text: string | null): Recalled<PlaygroundForm> | undefined {
  if (text === null) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'the saved settings are not valid JSON' };
  }
  if (isObject(parsed) && typeof parsed.v === 'number') {
    if (parsed.v > FORM_SCHEMA_VERSION)
      return { ok: false, reason: `they were saved by a newer SparkLab (settings version ${parsed.v})` };
    if (parsed.v !== FORM_SCHEMA_VERSION)
      return { ok: false, reason: `they were saved by an older SparkLab (settings version ${parsed.v})` };
    const checked = checkStoredForm(parsed.data);
    return checked.ok ? checked : { ok: false, reason: `the saved settings are damaged (${checked.reason})` };
  }
  // Version 0: the bare form, as written before envelopes existed.
  const legacy = checkStoredForm(parsed);
  return legacy.ok
    ? legacy
    : { ok: false, reason: `they were saved by an older SparkLab and cannot be read (${legacy.reason})` };
}
