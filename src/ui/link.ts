/**
 * Shareable links: every run setting (each field of the playground form, the ablations included) and the
 * selected panel live in the URL hash with the engine version, e.g.
 *   #v=0.1.0&preset=tiny&data=fashion-mnist&mask=0.6&batch=4&steps=300&seed=0&encoder=sparse&…&panel=lab
 * Decoding never throws: an invalid or unknown value falls back to the default and is named in a notice; a
 * link from another engine version says numbers may differ. Self-contained (no store, no React) so other
 * panels (scenarios, the tour) can build links with `encodeLink`.
 */
import { version as packageVersion } from '../../package.json';
import type { PRESETS } from '../models/presets';
import {
  ABLATIONS,
  DATASET_LABELS,
  type DatasetChoice,
  DEFAULT_FORM,
  formForPreset,
  PLAYGROUND_PRESETS,
  type PlaygroundForm,
} from './run-config';

/** The engine's version: a link records it, since the same seed gives the same run only on the same engine. */
export const ENGINE_VERSION: string = packageVersion;

/** Hash keys of the form fields (short, stable: links in the wild depend on them). */
const KEYS = {
  preset: 'preset',
  dataset: 'data',
  maskRatio: 'mask',
  batchSize: 'batch',
  steps: 'steps',
  seed: 'seed',
  lr: 'lr',
  encoder: 'encoder',
  decoderInputs: 'decoder',
  maskToken: 'token',
  lossTarget: 'target',
  lossOn: 'loss',
  decoderWidth: 'dwidth',
  widths: 'widths',
  depths: 'depths',
  optimizer: 'opt',
  weightDecay: 'wd',
  dropPath: 'dp',
} as const satisfies Record<keyof PlaygroundForm, string>;

export interface LinkState {
  form: PlaygroundForm;
  /** The selected panel (any short lower-case name a panel chooses); absent when the link has none. */
  panel?: string;
}

export interface DecodedLink extends LinkState {
  /** Sentences for the user: values that fell back, another engine version. Empty for a clean link. */
  notices: string[];
  /** Whether the hash held any setting at all (an empty hash is not a link). */
  present: boolean;
  /** The engine version the link was made with, when it says. */
  engineVersion?: string;
}

const PANEL = /^[a-z][a-z0-9-]{0,31}$/;
const MAX_STEPS = 1_000_000;
const MAX_BATCH = 4096;

/** The hash (with '#') for a form and panel. Blank text fields are left out (blank = the preset's value). */
export function encodeLink(state: LinkState): string {
  const params = new URLSearchParams();
  params.set('v', ENGINE_VERSION);
  const form = state.form;
  for (const field of Object.keys(KEYS) as (keyof PlaygroundForm)[]) {
    const value = form[field];
    if (typeof value === 'string' && value.trim() === '') continue;
    params.set(KEYS[field], String(typeof value === 'string' ? value.trim() : value));
  }
  if (state.panel && PANEL.test(state.panel)) params.set('panel', state.panel);
  return `#${params.toString()}`;
}

function parseWhole(text: string, min: number, max: number): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return value >= min && value <= max ? value : undefined;
}

/**
 * The form and panel a hash describes. Every value is checked on its own; a bad one keeps the default and
 * is listed in `notices` (the page shows them), so a damaged link still opens a working page.
 */
export function decodeLink(hash: string): DecodedLink {
  const text = hash.startsWith('#') ? hash.slice(1) : hash;
  const params = new URLSearchParams(text);
  const known = new Set<string>([...Object.values(KEYS), 'v', 'panel']);
  const present = [...params.keys()].some((key) => known.has(key));
  const notices: string[] = [];
  const rejected: string[] = [];
  const reject = (key: string, value: string) => rejected.push(`${key}=${value.slice(0, 40)}`);
  const get = (key: string) => params.get(key) ?? undefined;

  const presetText = get(KEYS.preset);
  let form: PlaygroundForm = DEFAULT_FORM;
  if (presetText !== undefined) {
    if ((PLAYGROUND_PRESETS as readonly string[]).includes(presetText))
      form = formForPreset(presetText as keyof typeof PRESETS);
    else reject(KEYS.preset, presetText);
  }
  form = { ...form };
  const data = get(KEYS.dataset);
  if (data !== undefined) {
    if (data === 'user') {
      notices.push(
        'This link was made with the sender’s own images, which a link cannot carry: the built-in Fashion-MNIST is used instead; add your own images to train on them.',
      );
    } else if (data in DATASET_LABELS) form.dataset = data as DatasetChoice;
    else reject(KEYS.dataset, data);
  }
  const mask = get(KEYS.maskRatio);
  if (mask !== undefined) {
    const value = Number(mask);
    if (mask.trim() !== '' && Number.isFinite(value) && value >= 0 && value < 1) form.maskRatio = value;
    else reject(KEYS.maskRatio, mask);
  }
  const wholes = [
    ['batchSize', 2, MAX_BATCH],
    ['steps', 1, MAX_STEPS],
    ['seed', 0, 2 ** 32 - 1],
  ] as const;
  for (const [field, min, max] of wholes) {
    const raw = get(KEYS[field]);
    if (raw === undefined) continue;
    const value = parseWhole(raw, min, max);
    if (value === undefined) reject(KEYS[field], raw);
    else form[field] = value;
  }
  for (const { field, options } of ABLATIONS) {
    const raw = get(KEYS[field]);
    if (raw === undefined) continue;
    const option = options.find(([value]) => value === raw);
    if (option) (form as unknown as Record<string, unknown>)[field] = option[0];
    else reject(KEYS[field], raw);
  }
  const optimizer = get(KEYS.optimizer);
  if (optimizer !== undefined) {
    if (optimizer === 'lamb' || optimizer === 'adamw') form.optimizer = optimizer;
    else reject(KEYS.optimizer, optimizer);
  }
  // Free-text numbers: kept when they have the shape of a number (the form's validator explains the rest).
  const numeric = /^[0-9.eE+-]{1,24}$/;
  const lists = /^[0-9, ]{1,64}$/;
  for (const [field, shape] of [
    ['lr', numeric],
    ['weightDecay', numeric],
    ['dropPath', numeric],
    ['decoderWidth', /^\d{1,5}$/],
    ['widths', lists],
    ['depths', lists],
  ] as const) {
    const raw = get(KEYS[field]);
    if (raw === undefined) continue;
    if (shape.test(raw)) form[field] = raw;
    else reject(KEYS[field], raw);
  }
  let panel: string | undefined;
  const panelText = get('panel');
  if (panelText !== undefined) {
    if (PANEL.test(panelText)) panel = panelText;
    else reject('panel', panelText);
  }
  if (rejected.length > 0)
    notices.unshift(
      `The link had values this page cannot use (${rejected.join(', ')}); the defaults are used for them.`,
    );
  const engineVersion = get('v');
  if (present && engineVersion !== ENGINE_VERSION)
    notices.push(
      engineVersion
        ? `This link was made with engine version ${engineVersion.slice(0, 20)}; this page runs ${ENGINE_VERSION}, so the numbers may differ from the sender’s.`
        : `This link does not say which engine version made it; this page runs ${ENGINE_VERSION}, so the numbers may differ from the sender’s.`,
    );
  return { form, panel, notices, present, ...(engineVersion ? { engineVersion } : {}) };
}
