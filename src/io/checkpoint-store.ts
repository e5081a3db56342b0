/**
 * Where checkpoints live: one interface, three homes — files in Node (`checkpoint-store-node.ts`), IndexedDB
 * in the browser (`checkpoint-store-idb.ts`) and memory (tests, or a browser without IndexedDB). A store
 * keeps opaque bytes (the trainer writes safetensors) plus a small JSON metadata object, under a name.
 *
 * Every implementation replaces a checkpoint atomically: until a save has completed, `load` returns the
 * previous version, so an interrupted save never loses the last good state.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Free-form metadata the trainer wants back on restore (run id, step, config, RNG state…). */
export type CheckpointMeta = { [key: string]: JsonValue };

export interface StoredCheckpoint {
  name: string;
  /** Size of the stored bytes. */
  bytes: number;
  /** ISO 8601 time of the save. */
  savedAt: string;
  meta: CheckpointMeta;
}

export interface CheckpointStore {
  save(name: string, bytes: Uint8Array, meta?: CheckpointMeta): Promise<StoredCheckpoint>;
  /** Throws `CheckpointNotFoundError` when there is no checkpoint of that name. */
  load(name: string): Promise<{ info: StoredCheckpoint; bytes: Uint8Array }>;
  /** Newest first. */
  list(): Promise<StoredCheckpoint[]>;
  /** True when something was deleted. */
  delete(name: string): Promise<boolean>;
}

export class CheckpointNotFoundError extends Error {
  constructor(readonly checkpointName: string) {
    super(`There is no checkpoint named "${checkpointName}".`);
    this.name = 'CheckpointNotFoundError';
  }
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Names become file names in Node, so they are restricted to a portable, path-free alphabet. */
export function validateCheckpointName(name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new Error(
      `"${name}" cannot be a checkpoint name: use 1–100 letters, digits, '.', '_' or '-', starting with a letter or digit.`,
    );
  }
  return name;
}

export function sortNewestFirst(list: StoredCheckpoint[]): StoredCheckpoint[] {
  return list.sort((a, b) =>
    a.savedAt < b.savedAt ? 1 : a.savedAt > b.savedAt ? -1 : a.name.localeCompare(b.name),
  );
}

/** Checks that metadata survives JSON (no undefined, functions, NaN or typed arrays hiding in it). */
export function checkMeta(meta: CheckpointMeta): CheckpointMeta {
  const text = JSON.stringify(meta);
  const back = JSON.parse(text) as CheckpointMeta;
  const same = (a: unknown, b: unknown): boolean => {
    if (typeof a === 'number') return Object.is(a, b) || (a === 0 && b === 0);
    if (a === null || typeof a !== 'object') return a === b;
    if (b === null || typeof b !== 'object') return false;
    if (Array.isArray(a) !== Array.isArray(b) || ArrayBuffer.isView(a)) return false;
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => same((a as never)[k], (b as never)[k]));
  };
  if (!same(meta, back)) {
    throw new Error(
      'Checkpoint metadata must be plain JSON (numbers must be finite; no undefined or typed arrays).',
    );
  }
  return back;
}

/** Copies on the way in and out, like the real stores, so callers cannot alias stored bytes. */
export class MemoryCheckpointStore implements CheckpointStore {
  private readonly entries = new Map<string, { info: StoredCheckpoint; bytes: Uint8Array }>();

  constructor(private readonly clock: () => Date = () => new Date()) {}

  async save(name: string, bytes: Uint8Array, meta: CheckpointMeta = {}): Promise<StoredCheckpoint> {
    validateCheckpointName(name);
    const info: StoredCheckpoint = {
      name,
      bytes: bytes.byteLength,
      savedAt: this.clock().toISOString(),
      meta: checkMeta(meta),
    };
    this.entries.set(name, { info, bytes: bytes.slice() });
    return structuredClone(info);
  }

  async load(name: string): Promise<{ info: StoredCheckpoint; bytes: Uint8Array }> {
    const entry = this.entries.get(name);
    if (!entry) throw new CheckpointNotFoundError(name);
    return { info: structuredClone(entry.info), bytes: entry.bytes.slice() };
  }

  async list(): Promise<StoredCheckpoint[]> {
    return sortNewestFirst([...this.entries.values()].map((e) => structuredClone(e.info)));
  }

  async delete(name: string): Promise<boolean> {
    return this.entries.delete(name);
  }
}
