import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeCheckpointStore } from './checkpoint-store-node';

const directories: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sparklab-ckpt-node-'));
  directories.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of directories) await rm(dir, { recursive: true, force: true });
});

describe('NodeCheckpointStore with hostile or damaged records', () => {
  it('refuses a record whose file field points outside the store, and neither reads nor deletes it', async () => {
    const root = await tempDir();
    const dir = join(root, 'checkpoints');
    const store = new NodeCheckpointStore(dir);
    await store.save('a', Uint8Array.from([1, 2, 3]));
    const victim = join(root, 'victim.txt');
    await writeFile(victim, 'precious');
    const record = JSON.parse(await readFile(join(dir, 'a.json'), 'utf8'));
    await writeFile(join(dir, 'a.json'), JSON.stringify({ ...record, file: '../victim.txt', bytes: 8 }));
    await expect(store.load('a')).rejects.toThrow(/record of the checkpoint "a" is damaged/);
    await expect(store.delete('a')).resolves.toBe(true);
    expect(await readFile(victim, 'utf8')).toBe('precious');
  });

  it('keeps one whole checkpoint when two saves of one name overlap', async () => {
    const dir = await tempDir();
    const store = new NodeCheckpointStore(dir);
    const first = new Uint8Array(50_000).fill(1);
    const second = new Uint8Array(60_000).fill(2);
    await Promise.all([store.save('x', first), store.save('x', second)]);
    const { bytes } = await store.load('x');
    expect([first.byteLength, second.byteLength]).toContain(bytes.byteLength);
    expect(bytes.every((b) => b === bytes[0])).toBe(true);
    // The loser's payload is cleaned up; one payload and one record remain.
    expect((await readdir(dir)).filter((f) => f.startsWith('x.')).sort()).toHaveLength(2);
  });

  it('refuses a payload larger than the caller allows before reading it', async () => {
    const dir = await tempDir();
    const store = new NodeCheckpointStore(dir, { maxBytes: 1000 });
    await new NodeCheckpointStore(dir).save('big', new Uint8Array(5000));
    await expect(store.load('big')).rejects.toThrow(/is 5000 bytes, more than the 1000/);
  });

  it('explains a record with missing fields instead of failing later', async () => {
    const dir = await tempDir();
    const store = new NodeCheckpointStore(dir);
    await writeFile(join(dir, 'r.json'), JSON.stringify({ name: 'r' }));
    await expect(store.load('r')).rejects.toThrow(/record of the checkpoint "r" is damaged/);
    expect(await store.list()).toEqual([]);
  });
});
