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
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
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

  constructor(
    readonly directory: string,
    options: NodeCheckpointStoreOptions = {},
  ) {
    this.extension = options.extension ?? 'bin';
    this.clock = options.clock ?? (() => new Date());
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
    try {
      return JSON.parse(text) as Record;
    } catch {
      throw new Error(
        `The checkpoint record ${this.recordPath(name)} is not valid JSON; delete it or restore it.`,
      );
    }
  }

  async save(name: string, bytes: Uint8Array, meta: CheckpointMeta = {}): Promise<StoredCheckpoint> {
    validateCheckpointName(name);
    const cleanMeta = checkMeta(meta);
    await mkdir(this.directory, { recursive: true });
    const previous = await this.readRecord(name).catch(() => undefined);
    const file = `${name}.${Date.now().toString(36)}${randomBytes(4).toString('hex')}.${this.extension}`;
    await writeDurably(join(this.directory, file), bytes);
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

  /** Deletes payloads of `name` other than `keep` (the previous one, and orphans of interrupted saves). */
  private async removeStalePayloads(name: string, keep: string, previous?: string): Promise<void> {
    const prefix = `${name}.`;
    const suffix = `.${this.extension}`;
    for (const entry of await readdir(this.directory)) {
      const isPayloadOfName =
        entry === previous ||
        (entry.startsWith(prefix) &&
          entry.endsWith(suffix) &&
          !entry.slice(prefix.length, -suffix.length).includes('.'));
      if (isPayloadOfName && entry !== keep) await rm(join(this.directory, entry), { force: true });
    }
  }

  async load(name: string): Promise<{ info: StoredCheckpoint; bytes: Uint8Array }> {
    validateCheckpointName(name);
    const record = await this.readRecord(name);
    if (!record) throw new CheckpointNotFoundError(name);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(join(this.directory, record.file)));
    } catch (error) {
      throw new Error(
        `The checkpoint "${name}" lost its data file ${record.file}: ${(error as Error).message}`,
      );
    }
    if (bytes.byteLength !== record.bytes) {
      throw new Error(
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
    const record = await this.readRecord(name);
    if (!record) return false;
    // Record first: a crash between the two leaves an orphan payload (cleaned on the next save), never a
    // record pointing at nothing.
    await rm(this.recordPath(name), { force: true });
    await rm(join(this.directory, record.file), { force: true });
    return true;
  }
}
