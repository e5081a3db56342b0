import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CheckpointNotFoundError,
  type CheckpointStore,
  checkMeta,
  MemoryCheckpointStore,
  validateCheckpointName,
} from './checkpoint-store';
import { IndexedDbCheckpointStore } from './checkpoint-store-idb';
import { NodeCheckpointStore } from './checkpoint-store-node';

/** A clock that advances one second per call, so "newest first" is well defined. */
function steppingClock(): () => Date {
  let t = Date.UTC(2026, 0, 1);
  return () => new Date((t += 1000));
}

const directories: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sparklab-ckpt-'));
  directories.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of directories) await rm(dir, { recursive: true, force: true });
});

/**
 * A small IndexedDB stand-in with the semantics the store relies on: requests run in order and
 * asynchronously, values are structured-cloned, a transaction commits all its writes when its last request
 * has run, and a failing request aborts it with none of its writes applied. (Node has no IndexedDB; the
 * browser implementation is exercised against this.)
 */
class FakeIdb {
  readonly databases = new Map<string, Map<string, Map<unknown, unknown>>>();
  /** Makes the next put into this store fail, like a quota error. */
  failNextPut?: { store: string; error: Error };

  open(name: string) {
    const req: Record<string, unknown> & { result?: unknown } = {};
    setTimeout(() => {
      let stores = this.databases.get(name);
      const fresh = !stores;
      stores ??= new Map();
      this.databases.set(name, stores);
      const db = this.database(stores);
      req.result = db;
      if (fresh) (req.onupgradeneeded as () => void)?.();
      (req.onsuccess as () => void)?.();
    }, 0);
    return req as unknown as IDBOpenDBRequest;
  }

  private database(stores: Map<string, Map<unknown, unknown>>) {
    const fake = this;
    return {
      objectStoreNames: { contains: (n: string) => stores.has(n) },
      createObjectStore: (n: string) => stores.set(n, new Map()),
      close() {},
      transaction(names: string | string[], mode: IDBTransactionMode) {
        return fake.transaction(stores, typeof names === 'string' ? [names] : names, mode);
      },
    };
  }

  private transaction(stores: Map<string, Map<unknown, unknown>>, names: string[], mode: IDBTransactionMode) {
    const staged = new Map(names.map((n) => [n, new Map(stores.get(n))]));
    const queue: (() => void)[] = [];
    let scheduled = false;
    let finished = false;
    const tx: Record<string, unknown> & { error: Error | null } = { error: null };
    const fail = (error: Error) => {
      finished = true;
      tx.error = error;
      (tx.onerror as () => void)?.();
      (tx.onabort as () => void)?.();
    };
    const pump = () => {
      scheduled = false;
      while (queue.length > 0 && !finished) queue.shift()!();
      if (finished) return;
      setTimeout(() => {
        if (queue.length > 0) return pump();
        finished = true;
        if (mode === 'readwrite') for (const [n, m] of staged) stores.set(n, m);
        (tx.oncomplete as () => void)?.();
      }, 0);
    };
    const enqueue = (run: () => unknown) => {
      if (finished) throw new Error('TransactionInactiveError');
      const req: Record<string, unknown> & { result?: unknown; error?: Error } = {};
      queue.push(() => {
        try {
          req.result = run();
          (req.onsuccess as () => void)?.();
        } catch (error) {
          req.error = error as Error;
          (req.onerror as () => void)?.();
          fail(error as Error);
        }
      });
      if (!scheduled) {
        scheduled = true;
        setTimeout(pump, 0);
      }
      return req;
    };
    tx.objectStore = (n: string) => {
      const map = staged.get(n)!;
      return {
        put: (value: unknown, key: unknown) =>
          enqueue(() => {
            if (this.failNextPut?.store === n) {
              const { error } = this.failNextPut;
              this.failNextPut = undefined;
              throw error;
            }
            map.set(key, structuredClone(value));
            return key;
          }),
        get: (key: unknown) => enqueue(() => structuredClone(map.get(key))),
        getKey: (key: unknown) => enqueue(() => (map.has(key) ? key : undefined)),
        getAll: () => enqueue(() => [...map.values()].map((v) => structuredClone(v))),
        delete: (key: unknown) => enqueue(() => void map.delete(key)),
      };
    };
    return tx as unknown as IDBTransaction;
  }
}

function contract(label: string, make: () => Promise<CheckpointStore>) {
  describe(`${label}: the CheckpointStore contract`, () => {
    it('saves, loads, lists newest first and deletes', async () => {
      const store = await make();
      const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 256);
      const info = await store.save('run-1', bytes, { step: 100, runId: 'r', rng: [1, 2] });
      expect(info).toMatchObject({
        name: 'run-1',
        bytes: 1000,
        meta: { step: 100, runId: 'r', rng: [1, 2] },
      });
      await store.save('run-2', new Uint8Array([1]));
      const loaded = await store.load('run-1');
      expect(Buffer.from(loaded.bytes).equals(Buffer.from(bytes))).toBe(true);
      expect(loaded.info).toEqual(info);
      expect((await store.list()).map((c) => c.name)).toEqual(['run-2', 'run-1']);
      expect(await store.delete('run-2')).toBe(true);
      expect(await store.delete('run-2')).toBe(false);
      expect((await store.list()).map((c) => c.name)).toEqual(['run-1']);
      await expect(store.load('run-2')).rejects.toThrow(CheckpointNotFoundError);
      await expect(store.load('run-2')).rejects.toThrow('There is no checkpoint named "run-2".');
    });

    it('replaces a checkpoint of the same name, and stored bytes do not alias the caller', async () => {
      const store = await make();
      const first = new Uint8Array([1, 2, 3]);
      await store.save('auto', first, { step: 1 });
      first[0] = 99;
      expect(Array.from((await store.load('auto')).bytes)).toEqual([1, 2, 3]);
      await store.save('auto', new Uint8Array([4, 5]), { step: 2 });
      const { info, bytes } = await store.load('auto');
      expect([info.meta.step, Array.from(bytes)]).toEqual([2, [4, 5]]);
      expect(await store.list()).toHaveLength(1);
    });

    it('saves an empty payload and refuses unsafe names with a sentence', async () => {
      const store = await make();
      await store.save('empty', new Uint8Array(0));
      expect((await store.load('empty')).bytes.byteLength).toBe(0);
      await expect(store.save('../escape', new Uint8Array(1))).rejects.toThrow(/cannot be a checkpoint name/);
    });
  });
}

contract('memory', async () => new MemoryCheckpointStore(steppingClock()));
contract(
  'node files',
  async () => new NodeCheckpointStore(await tempDir(), { clock: steppingClock(), extension: 'safetensors' }),
);
contract(
  'indexeddb',
  async () => new IndexedDbCheckpointStore('t', new FakeIdb() as unknown as IDBFactory, steppingClock()),
);

describe('NodeCheckpointStore crash safety', () => {
  it('keeps the previous checkpoint when a save died before its record was renamed, and cleans up later', async () => {
    const dir = await tempDir();
    const store = new NodeCheckpointStore(dir, { clock: steppingClock() });
    await store.save('auto', new Uint8Array([1, 1, 1]), { step: 10 });
    // What an interrupted save leaves: a complete or partial new payload and a temporary record.
    await writeFile(join(dir, 'auto.zzzz0000.bin'), new Uint8Array([2, 2]));
    await writeFile(join(dir, '.auto.json.abcd.tmp'), '{"name":"auto","file":"auto.zz');
    const survived = await store.load('auto');
    expect([survived.info.meta.step, Array.from(survived.bytes)]).toEqual([10, [1, 1, 1]]);
    expect((await store.list()).map((c) => c.name)).toEqual(['auto']);
    await store.save('auto', new Uint8Array([3]), { step: 20 });
    const files = (await readdir(dir)).filter((f) => !f.startsWith('.'));
    expect(files.sort()).toHaveLength(2);
    expect(files.filter((f) => f.endsWith('.bin'))).toHaveLength(1);
    expect(Array.from((await store.load('auto')).bytes)).toEqual([3]);
  });

  it('writes a new payload file per save instead of overwriting the current one', async () => {
    const dir = await tempDir();
    const store = new NodeCheckpointStore(dir, { clock: steppingClock() });
    await store.save('a', new Uint8Array([1]));
    const firstFile = JSON.parse(await readFile(join(dir, 'a.json'), 'utf8')).file;
    await store.save('a', new Uint8Array([2]));
    const secondFile = JSON.parse(await readFile(join(dir, 'a.json'), 'utf8')).file;
    expect(secondFile).not.toBe(firstFile);
    expect(await readdir(dir)).not.toContain(firstFile);
  });

  it('does not touch checkpoints whose names share a prefix', async () => {
    const dir = await tempDir();
    const store = new NodeCheckpointStore(dir, { clock: steppingClock() });
    await store.save('a.b', new Uint8Array([7]));
    await store.save('a', new Uint8Array([8]));
    await store.save('a', new Uint8Array([9]));
    expect(Array.from((await store.load('a.b')).bytes)).toEqual([7]);
  });

  it('explains a payload damaged outside the store, and lists nothing for a missing folder', async () => {
    const dir = await tempDir();
    const store = new NodeCheckpointStore(dir);
    await store.save('x', new Uint8Array([1, 2, 3, 4]));
    const { file } = JSON.parse(await readFile(join(dir, 'x.json'), 'utf8'));
    await writeFile(join(dir, file), new Uint8Array([1]));
    await expect(store.load('x')).rejects.toThrow(
      'The checkpoint "x" should hold 4 bytes but its file has 1; it was damaged outside SparkLab.',
    );
    expect(await new NodeCheckpointStore(join(dir, 'nothing-here')).list()).toEqual([]);
  });
});

describe('IndexedDbCheckpointStore', () => {
  it('a failed payload write leaves the previous checkpoint whole (one transaction for both stores)', async () => {
    const idb = new FakeIdb();
    const store = new IndexedDbCheckpointStore('t', idb as unknown as IDBFactory, steppingClock());
    await store.save('auto', new Uint8Array([1, 2]), { step: 5 });
    const quota = Object.assign(new Error('quota'), { name: 'QuotaExceededError' });
    idb.failNextPut = { store: 'records', error: quota };
    await expect(store.save('auto', new Uint8Array([9, 9, 9]), { step: 6 })).rejects.toThrow(
      'The browser refused to store the checkpoint: its storage quota is full. Delete old checkpoints or runs.',
    );
    const { info, bytes } = await store.load('auto');
    expect([info.meta.step, Array.from(bytes)]).toEqual([5, [1, 2]]);
  });

  it('explains a browser without IndexedDB', async () => {
    const store = new IndexedDbCheckpointStore('t', undefined);
    await expect(store.list()).rejects.toThrow(/has no IndexedDB/);
  });
});

describe('names and metadata', () => {
  it('accepts portable names only', () => {
    for (const ok of ['auto', 'step-000300', 'run_1.best', 'A']) expect(validateCheckpointName(ok)).toBe(ok);
    for (const bad of ['', '.hidden', 'a/b', 'a\\b', 'x'.repeat(101), 'space name', 'ü']) {
      expect(() => validateCheckpointName(bad)).toThrow(/cannot be a checkpoint name/);
    }
  });

  it('refuses metadata that JSON would change', () => {
    expect(checkMeta({ a: 1, b: [true, null, 'x'], c: { d: -0.5 } })).toEqual({
      a: 1,
      b: [true, null, 'x'],
      c: { d: -0.5 },
    });
    for (const bad of [{ a: Number.NaN }, { a: undefined }, { a: new Float32Array(2) }] as never[]) {
      expect(() => checkMeta(bad)).toThrow(
        'Checkpoint metadata must be plain JSON (numbers must be finite; no undefined or typed arrays).',
      );
    }
  });
});
