/**
 * Checkpoints in IndexedDB (browser and worker). Two object stores keyed by name: `records` (small
 * metadata, listed without touching the bytes) and `payloads` (the bytes). A save writes both in one
 * readwrite transaction, which IndexedDB commits entirely or not at all: a closed tab mid-save leaves the
 * previous checkpoint intact.
 */
import {
  type CheckpointMeta,
  CheckpointNotFoundError,
  type CheckpointStore,
  checkMeta,
  type StoredCheckpoint,
  sortNewestFirst,
  validateCheckpointName,
} from './checkpoint-store';

const RECORDS = 'records';
const PAYLOADS = 'payloads';
const VERSION = 1;

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction was aborted'));
  });
}

function explain(error: unknown): Error {
  const e = error as DOMException;
  if (e?.name === 'QuotaExceededError') {
    return new Error(
      'The browser refused to store the checkpoint: its storage quota is full. Delete old checkpoints or runs.',
    );
  }
  return e instanceof Error ? e : new Error(String(e));
}

export class IndexedDbCheckpointStore implements CheckpointStore {
  private db?: Promise<IDBDatabase>;

  constructor(
    readonly databaseName = 'sparklab-checkpoints',
    private readonly factory: IDBFactory | undefined = globalThis.indexedDB,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  private open(): Promise<IDBDatabase> {
    const factory = this.factory;
    if (!factory) {
      return Promise.reject(
        new Error('This browser has no IndexedDB (private mode?), so checkpoints cannot be saved.'),
      );
    }
    this.db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const req = factory.open(this.databaseName, VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains(RECORDS)) db.createObjectStore(RECORDS);
        if (!db.objectStoreNames.contains(PAYLOADS)) db.createObjectStore(PAYLOADS);
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error ?? new Error('Could not open the checkpoint database.'));
      req.onblocked = () =>
        reject(new Error('The checkpoint database is blocked by another SparkLab tab; close it and retry.'));
    });
    this.db.catch(() => {
      this.db = undefined;
    });
    return this.db;
  }

  async save(name: string, bytes: Uint8Array, meta: CheckpointMeta = {}): Promise<StoredCheckpoint> {
    validateCheckpointName(name);
    const info: StoredCheckpoint = {
      name,
      bytes: bytes.byteLength,
      savedAt: this.clock().toISOString(),
      meta: checkMeta(meta),
    };
    const db = await this.open();
    try {
      const tx = db.transaction([RECORDS, PAYLOADS], 'readwrite');
      const finished = done(tx);
      tx.objectStore(PAYLOADS).put(bytes.slice(), name);
      tx.objectStore(RECORDS).put(info, name);
      await finished;
    } catch (error) {
      throw explain(error);
    }
    return info;
  }

  async load(name: string): Promise<{ info: StoredCheckpoint; bytes: Uint8Array }> {
    const db = await this.open();
    const tx = db.transaction([RECORDS, PAYLOADS], 'readonly');
    const [info, bytes] = await Promise.all([
      request(tx.objectStore(RECORDS).get(name) as IDBRequest<StoredCheckpoint | undefined>),
      request(tx.objectStore(PAYLOADS).get(name) as IDBRequest<Uint8Array | undefined>),
    ]);
    if (!info || !bytes) throw new CheckpointNotFoundError(name);
    return { info, bytes };
  }

  async list(): Promise<StoredCheckpoint[]> {
    const db = await this.open();
    const tx = db.transaction(RECORDS, 'readonly');
    return sortNewestFirst(await request(tx.objectStore(RECORDS).getAll() as IDBRequest<StoredCheckpoint[]>));
  }

  async delete(name: string): Promise<boolean> {
    const db = await this.open();
    const tx = db.transaction([RECORDS, PAYLOADS], 'readwrite');
    const finished = done(tx);
    const records = tx.objectStore(RECORDS);
    // Requests run in order, so the key lookup sees the state before the deletes.
    const lookup = records.getKey(name);
    records.delete(name);
    tx.objectStore(PAYLOADS).delete(name);
    await finished;
    const existed = lookup.result !== undefined;
    return existed;
  }

  close(): void {
    this.db?.then((db) => db.close()).catch(() => undefined);
    this.db = undefined;
  }
}
