/**
 * The largest hostile inputs, refused one by one with the time and peak memory each refusal costs: a header
 * length of 2^60, a 60 MiB header of a million empty tensors, a tensor declaring 2^42 bytes, a 3 GiB file
 * offered to the checkpoint store, and a 40 Mpx PNG header whose data is missing.
 */
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeImage } from '../data/image';
import { NodeCheckpointStore } from '../io/checkpoint-store-node';
import { readSafetensors } from '../io/safetensors';
import { maxFileBytesFor, stateDataBytes } from '../io/state';
import { FUZZ_CONFIG } from './targets';

export interface GiantResult {
  input: string;
  inputBytes: number;
  refusedWith: string;
  ms: number;
  /** Resident memory at the peak of the refusal, and how much it grew over the memory before it. */
  peakRssMiB: number;
  rssGrowthMiB: number;
}

function rawSafetensors(header: string, lengthField?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length);
  new DataView(out.buffer).setBigUint64(0, lengthField ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

async function measure(input: string, inputBytes: number, refuse: () => unknown): Promise<GiantResult> {
  const sample = () => process.memoryUsage.rss();
  const before = sample();
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, sample());
  }, 1);
  const started = performance.now();
  let refusedWith = 'ACCEPTED';
  try {
    await refuse();
  } catch (error) {
    refusedWith = `${(error as Error).name}: ${(error as Error).message}`;
  }
  const ms = performance.now() - started;
  clearInterval(timer);
  peak = Math.max(peak, sample());
  const mib = (n: number) => +(n / 2 ** 20).toFixed(1);
  return {
    input,
    inputBytes,
    refusedWith,
    ms: +ms.toFixed(1),
    peakRssMiB: mib(peak),
    rssGrowthMiB: mib(peak - before),
  };
}

export async function refuseGiants(): Promise<GiantResult[]> {
  const results: GiantResult[] = [];
  const lengthBomb = rawSafetensors('{}', 1n << 60n);
  results.push(
    await measure('safetensors header length 2^60', lengthBomb.length, () => readSafetensors(lengthBomb)),
  );
  const million = rawSafetensors(
    `{${Array.from({ length: 1_000_000 }, (_, i) => `"t${i}":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`).join(',')}}`,
  );
  results.push(
    await measure('header of 1,000,000 empty tensors', million.length, () => readSafetensors(million)),
  );
  const many = rawSafetensors(
    `{${Array.from({ length: 100_000 }, (_, i) => `"${i}":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`).join(',')}}`,
  );
  results.push(
    await measure('header of 100,000 empty tensors (under the byte cap)', many.length, () =>
      readSafetensors(many),
    ),
  );
  const declared = rawSafetensors(
    '{"w":{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,4398046511104]}}',
  );
  results.push(
    await measure('tensor declaring 2^42 bytes', declared.length, () => readSafetensors(declared)),
  );
  const dir = await mkdtemp(join(tmpdir(), 'sparklab-giants-'));
  try {
    const store = new NodeCheckpointStore(dir, {
      maxBytes: maxFileBytesFor(3 * stateDataBytes(FUZZ_CONFIG)),
    });
    await store.save('big', new Uint8Array(4));
    const file = (await readdir(dir)).find((f) => f.endsWith('.bin'))!;
    await truncate(join(dir, file), 3 * 2 ** 30);
    const record = JSON.parse(await readFile(join(dir, 'big.json'), 'utf8'));
    await writeFile(join(dir, 'big.json'), JSON.stringify({ ...record, bytes: 3 * 2 ** 30 }));
    results.push(
      await measure('3 GiB checkpoint payload (sparse file)', 3 * 2 ** 30, () => store.load('big')),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  // Signature, IHDR (100000×100000 RGBA), an empty IDAT and IEND: a complete chunk walk, refused by size.
  const png = new Uint8Array(8 + 25 + 12 + 12);
  png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  new DataView(png.buffer).setUint32(16, 100_000);
  new DataView(png.buffer).setUint32(20, 100_000);
  png.set([8, 6, 0, 0, 0], 24);
  png.set([0, 0, 0, 0, 0x49, 0x44, 0x41, 0x54], 33);
  png.set([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44], 45);
  results.push(
    await measure('PNG header declaring 100000×100000 px', png.length, () => {
      const probe = probeImage(png);
      if (!probe.ok) throw Object.assign(new Error(probe.reason), { name: 'Skipped' });
    }),
  );
  return results;
}
