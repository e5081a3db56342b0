/**
 * Checkpoints as files in a directory (Node only). Each checkpoint is a payload file plus a small JSON
 * record pointing at it:
 *
 *   NAME.json                 {"name", "bytes", "savedAt", "meta", "file": "NAME.<id>.<ext>"}
 *   NAME.<id>.<ext>           the bytes
 *
 * A save writes a new payload file (never overwriting the current one), flushes it, then replaces the record
 * by writing a temporary file, flushing and renaming it over NAME.json (rename is atomic on POSIX and NTFS),
 * and only then deletes the old payload. A crash at any point leaves NAME.json pointing at a complete
 * payload: the new one or the previous one.
 *
 * The directory is not trusted: a record is checked field by field, and its `file` must be a payload name
 * of its own checkpoint (no path), so an edited record can neither read nor delete anything else. Saves of
 * one name run one after the other, and cleanup keeps whatever payload the current record names, so
 * overlapping saves (two tabs, a timer and a button) leave one whole checkpoint.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CheckpointMeta,
  CheckpointNotFoundError,
  type CheckpointStore,
  checkMeta,
  type StoredCheckpoint,
  sortNewestFirst,
  validateCheckpointName,
} from './checkpoint-store';

interface Record extends StoredCheckpoint {
  file: string;
}

export interface NodeCheckpointStoreOptions {
  /** Payload file extension, e.g. 'safetensors' so the files open in other tools. */
  extension?: string;
  clock?: () => Date;
  /** Payloads larger than this are refused from their size, before they are read (default: no limit). */
  maxBytes?: number;
  /**
   * Called after a save's payload is on disk and before its record points at it: the window a crash must
   * not corrupt. A fault-injection seam for tests (the CLI's SPARKLAB_FAULT_KILL_AT_SAVE); nothing else sets it.
   */
  afterPayloadWritten?: (file: string) => void | Promise<void>;
}

/** A record whose fields are not what the store writes: edited or damaged outside SparkLab. */
export class CheckpointRecordError extends Error {
  constructor(name: string, problem: string, path: string) {
    super(
      `The record of the checkpoint "${name}" is damaged (${problem}); delete ${path} or restore it from a backup.`,
    );
    this.name = 'CheckpointRecordError';
  }
}

/** A payload that is missing, of the wrong size or too large: a sentence for the user, no stack trace. */
export class CheckpointFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointFileError';
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function writeDurably(path: string, data: Uint8Array | string): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a directory entry change (the rename) to disk where the OS allows it (not on Windows). */
async function syncDirectory(path: string): Promise<void> {
  try {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Best effort: the rename itself is already atomic.
  }
}

export class NodeCheckpointStore implements CheckpointStore {
  private readonly extension: string;
  private readonly clock: () => Date;
  private readonly maxBytes: number;
  private readonly afterPayloadWritten?: (file: string) => void | Promise<void>;
  /** The save in progress per name; the next save of that name waits for it. */
  private readonly saving = new Map<string, Promise<unknown>>();

  constructor(
    readonly directory: string,
    options: NodeCheckpointStoreOptions = {},
  ) {
    this.extension = options.extension ?? 'bin';
    this.clock = options.clock ?? (() => new Date());
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.afterPayloadWritten = options.afterPayloadWritten;
  }

  /** The only payload names a record of `name` may point at: NAME.<id>.<ext>, no path, no dot in the id. */
  private payloadPattern(name: string): RegExp {
    return new RegExp(`^${escapeRegExp(name)}\\.[a-z0-9]+\\.${escapeRegExp(this.extension)}$`);
  }

  private checkRecord(name: string, value: unknown): Record {
    const path = this.recordPath(name);
    const fail = (problem: string): never => {
      throw new CheckpointRecordError(name, problem, path);
    };
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('it is not a JSON object');
    const r = value as { [key: string]: unknown };
    if (r.name !== name) fail(`it names ${JSON.stringify(r.name)}`);
    if (typeof r.file !== 'string' || !this.payloadPattern(name).test(r.file))
      fail(`its data file ${JSON.stringify(r.file)} is not a payload of this checkpoint`);
    if (typeof r.bytes !== 'number' || !Number.isSafeInteger(r.bytes) || r.bytes < 0)
      fail('its byte count is not a whole number');
    if (typeof r.savedAt !== 'string' || Number.isNaN(Date.parse(r.savedAt)))
      fail('its save time is not a date');
    if (typeof r.meta !== 'object' || r.meta === null || Array.isArray(r.meta))
      fail('its metadata is not an object');
    return r as unknown as Record;
  }

  private recordPath(name: string): string {
    return join(this.directory, `${name}.json`);
  }

  private async readRecord(name: string): Promise<Record | undefined> {
    let text: string;
    try {
      text = await readFile(this.recordPath(name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CheckpointRecordError(name, 'it is not valid JSON', this.recordPath(name));
    }
    return this.checkRecord(name, parsed);
  }

  async save(name: string, bytes: Uint8Array, meta: CheckpointMeta = {}): Promise<StoredCheckpoint> {
    validateCheckpointName(name);
    const cleanMeta = checkMeta(meta);
    // One save of a name at a time: the second starts when the first has finished, either way.
    const before = this.saving.get(name) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(() => this.saveNow(name, bytes, cleanMeta));
    this.saving.set(name, run);
    try {
      return await run;
    } finally {
      if (this.saving.get(name) === run) this.saving.delete(name);
    }
  }

  private async saveNow(
    name: string,
    bytes: Uint8Array,
    cleanMeta: CheckpointMeta,
  ): Promise<StoredCheckpoint> {
    await mkdir(this.directory, { recursive: true });
    const previous = await this.readRecord(name).catch(() => undefined);
    const file = `${name}.${Date.now().toString(36)}${randomBytes(4).toString('hex')}.${this.extension}`;
    await writeDurably(join(this.directory, file), bytes);
    await this.afterPayloadWritten?.(file);
    const record: Record = {
      name,
      bytes: bytes.byteLength,
      savedAt: this.clock().toISOString(),
      meta: cleanMeta,
      file,
    };
    const temporary = join(this.directory, `.${name}.json.${randomBytes(4).toString('hex')}.tmp`);
    await writeDurably(temporary, JSON.stringify(record));
    await rename(temporary, this.recordPath(name));
    await syncDirectory(this.directory);
    // From here the new checkpoint is the current one; leftovers from earlier saves can go.
    await this.removeStalePayloads(name, file, previous?.file);
    const { file: _file, ...info } = record;
    return info;
  }

  /**
   * Deletes payloads of `name` other than `keep` (the previous one, and orphans of interrupted saves). The
   * record is read again first, and whatever payload it names is kept too: another process may have saved
   * this name meanwhile.
   */
  private async removeStalePayloads(name: string, keep: string, previous?: string): Promise<void> {
    const pattern = this.payloadPattern(name);
    const current = (await this.readRecord(name).catch(() => undefined))?.file;
    for (const entry of await readdir(this.directory)) {
      const isPayloadOfName = entry === previous || pattern.test(entry);
      if (isPayloadOfName && entry !== keep && entry !== current)
        await rm(join(this.directory, entry), { force: true });
    }
  }

  async load(name: string): Promise<{ info: StoredCheckpoint; bytes: Uint8Array }> {
    validateCheckpointName(name);
    const record = await this.readRecord(name);
    if (!record) throw new CheckpointNotFoundError(name);
    const path = join(this.directory, record.file);
    let bytes: Uint8Array;
    try {
      // The size is checked before anything is read: a huge file costs nothing to refuse.
      const size = (await stat(path)).size;
      if (size !== record.bytes)
        throw new CheckpointFileError(
          `The checkpoint "${name}" should hold ${record.bytes} bytes but its file has ${size}; it was damaged outside SparkLab.`,
        );
      if (size > this.maxBytes)
        throw new CheckpointFileError(
          `The checkpoint "${name}" is ${size} bytes, more than the ${this.maxBytes} a checkpoint of this model can be; it is not a checkpoint of this run.`,
        );
      bytes = new Uint8Array(await readFile(path));
    } catch (error) {
      if (!(error as NodeJS.ErrnoException).code) throw error;
      throw new CheckpointFileError(
        `The checkpoint "${name}" lost its data file ${record.file}: ${(error as Error).message}`,
      );
    }
    if (bytes.byteLength !== record.bytes) {
      throw new CheckpointFileError(
        `The checkpoint "${name}" should hold ${record.bytes} bytes but its file has ${bytes.byteLength}; it was damaged outside SparkLab.`,
      );
    }
    const { file: _file, ...info } = record;
    return { info, bytes };
  }

  async list(): Promise<StoredCheckpoint[]> {
    let entries: string[];
    try {
      entries = await readdir(this.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const out: StoredCheckpoint[] = [];
    for (const entry of entries) {
      if (!entry.endsWith('.json') || entry.startsWith('.')) continue;
      const record = await this.readRecord(entry.slice(0, -'.json'.length)).catch(() => undefined);
      if (record) {
        const { file: _file, ...info } = record;
        out.push(info);
      }
    }
    return sortNewestFirst(out);
  }

  async delete(name: string): Promise<boolean> {
    validateCheckpointName(name);
    let record: Record | undefined;
    try {
      record = await this.readRecord(name);
    } catch (error) {
      if (!(error instanceof CheckpointRecordError)) throw error;
      // A damaged record points at nothing we may delete; removing the record itself is what was asked.
      await rm(this.recordPath(name), { force: true });
      return true;
    }
    if (!record) return false;
    // Record first: a crash between the two leaves an orphan payload (cleaned on the next save), never a
    // record pointing at nothing.
    await rm(this.recordPath(name), { force: true });
    await rm(join(this.directory, record.file), { force: true });
    return true;
  }
}
