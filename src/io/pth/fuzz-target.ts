/**
 * The `.pth` reader as a fuzz target, in the shape of the fuzz harness's `FuzzTarget` (npm run fuzz, from
 * the untrusted-input work): add `pthFuzzTarget` to its FUZZ_TARGETS. Types are structural here so this file
 * does not depend on the harness.
 *
 * Generic byte mutations mostly end at the CRC check, so the pth-aware mutations change the pickle or a
 * storage and then repair both CRC fields, which sends the damage on into the unpickler and the view checks.
 */
import { SPARK_DEFAULTS, type SparkConfig } from '../../models/config';
import { sparkState } from '../../models/official-names';
import type { TrainerCheckpoint } from '../../train/checkpoint';
import { crc32 } from './crc32';
import { PthError } from './errors';
import { officialCheckpoint } from './official';
import { readOfficial } from './official-read';
import { readPthBytes } from './read';
import { PyFloat, PyOrderedDict, type PyOut, PyTupleOut, TensorOut, writePth } from './write';
import { concatChunks } from './zip-write';

export interface FuzzRandom {
  next(): number;
  int(n: number): number;
}

export type FuzzOutcome = 'accepted' | 'refused';

/** An official-layout checkpoint of the smallest SparK model (one ResNet stage at 8 px), a few KiB. */
function microCheckpoint(): TrainerCheckpoint {
  const config: SparkConfig = {
    ...SPARK_DEFAULTS,
    inputSize: 8,
    maskRatio: 0.5,
    decoderWidth: 8,
    densifyNorm: 'bn',
    backbone: {
      family: 'resnet',
      block: 'basic',
      stemWidth: 4,
      stemKernel: 3,
      stemStride: 1,
      maxpool: false,
      widths: [4],
      depths: [1],
      stageStrides: [2],
    },
  };
  const entries = sparkState(config);
  const values = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i + n));
  const state = new Map(entries.map((e) => [e.name, values(e.shape.reduce((a, b) => a * b, 1))]));
  const params = entries.filter((e) => e.kind === 'param');
  return {
    config,
    progress: {
      runId: 'fuzz',
      step: 2,
      totalSteps: 4,
      seed: 0,
      batch: 2,
      hyper: {
        optimizer: 'lamb',
        peakLr: 0.01,
        warmupSteps: 1,
        weightDecayStart: 0.04,
        weightDecayEnd: 0.2,
        beta1: 0.9,
        beta2: 0.95,
        maxGradNorm: 5,
      },
      dataRngState: 1,
      maskRngState: 2,
      optimizerSteps: { decay: 2, noDecay: 2 },
    },
    state,
    expAvg: new Map(params.map((e) => [e.name, (state.get(e.name) as Float32Array).map((v) => v / 10)])),
    expAvgSq: new Map(params.map((e) => [e.name, (state.get(e.name) as Float32Array).map((v) => v * v)])),
  };
}

/** Small checkpoints from the writer: a state dict of every dtype, an optimizer-like dict, a SparK checkpoint. */
export function pthFuzzSeeds(): Uint8Array[] {
  const module = new PyOrderedDict(
    new Map<string, PyOut>([
      [
        'conv.weight',
        new TensorOut(
          'F32',
          [2, 1, 2, 2],
          Float32Array.from({ length: 8 }, (_, i) => i / 8),
        ),
      ],
      ['bn.num_batches_tracked', new TensorOut('I64', [], BigInt64Array.of(3n))],
      ['half', new TensorOut('F16', [3], Uint16Array.of(0x3c00, 0x4000, 0x7c00))],
      ['brain', new TensorOut('BF16', [2], Uint16Array.of(0x3f80, 0xbf80))],
      ['double', new TensorOut('F64', [2], Float64Array.of(1.5, -2))],
    ]),
  );
  const optimizer = new Map<string | number, PyOut>([
    [
      'state',
      new Map<string | number, PyOut>([
        [0, new Map([['exp_avg', new TensorOut('F32', [2], Float32Array.of(1, 2))]])],
      ]),
    ],
    [
      'param_groups',
      [
        new Map<string | number, PyOut>([
          ['lr', new PyFloat(0.1)],
          ['betas', new PyTupleOut([0.9, 0.95])],
          ['params', [0]],
        ]),
      ],
    ],
  ]);
  return [
    concatChunks(writePth(module)),
    concatChunks(
      writePth(
        new Map<string | number, PyOut>([
          ['module', module],
          ['optimizer', optimizer],
          ['epoch', 3],
        ]),
      ),
    ),
    concatChunks(writePth(officialCheckpoint(microCheckpoint(), { sbn: false, epoch: 0 }))),
  ];
}

interface Record {
  centralAt: number;
  dataAt: number;
  size: number;
}

/** Records of an archive written by writePth (stored, no comment, ZIP64 end records); undefined if damaged. */
function records(bytes: Uint8Array): Record[] | undefined {
  if (bytes.length < 98) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - 22;
  if (view.getUint32(end, true) !== 0x06054b50) return undefined;
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const out: Record[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== 0x02014b50) return undefined;
    const size = view.getUint32(at + 24, true);
    const local = view.getUint32(at + 42, true);
    if (local + 30 > bytes.length) return undefined;
    const dataAt = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (dataAt + size > bytes.length) return undefined;
    out.push({ centralAt: at, dataAt, size });
    at += 46 + view.getUint16(at + 28, true) + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
  }
  return out;
}

/** Mutates one record's content and repairs its CRC in the directory and the local header. */
export function mutatePthRecord(rng: FuzzRandom, seed: Uint8Array): Uint8Array {
  const out = seed.slice();
  const all = records(out);
  if (!all || all.length === 0) return out;
  // The pickle (record 0) most of the time: it is where the structure lives.
  const record = rng.next() < 0.7 ? all[0] : all[rng.int(all.length)];
  if (record.size === 0) return out;
  const changes = 1 + rng.int(4);
  for (let k = 0; k < changes; k++) {
    const at = record.dataAt + rng.int(record.size);
    const choice = rng.next();
    if (choice < 0.4) out[at] = rng.int(256);
    else if (choice < 0.7) out[at] ^= 1 << rng.int(8);
    else out[at] = [0x00, 0x7f, 0x80, 0xff, 0x28, 0x2e, 0x52, 0x63, 0x71, 0x68][rng.int(10)];
  }
  const crc = crc32(out.subarray(record.dataAt, record.dataAt + record.size));
  const view = new DataView(out.buffer);
  view.setUint32(record.centralAt + 16, crc, true);
  const local = view.getUint32(record.centralAt + 42, true);
  view.setUint32(local + 14, crc, true);
  return out;
}

export const pthFuzzTarget = {
  name: 'pth',
  expectedErrors: new Set(['PthError']) as ReadonlySet<string>,
  async seeds(): Promise<Uint8Array[]> {
    return pthFuzzSeeds();
  },
  mutate(rng: FuzzRandom, seed: Uint8Array): Uint8Array {
    if (rng.next() < 0.8) return mutatePthRecord(rng, seed);
    const out = seed.slice();
    out[rng.int(out.length)] = rng.int(256);
    return out;
  },
  /**
   * Reads everything (a PthError sentence is a refusal) and then opens it as a SparK model, which may refuse
   * with a PthError too without making the file unreadable.
   */
  async run(bytes: Uint8Array): Promise<FuzzOutcome> {
    const archive = await readPthBytes(bytes, 'fuzz.pth');
    try {
      await readOfficial(archive);
    } catch (error) {
      if (!(error instanceof PthError)) throw error;
    }
    return 'accepted';
  },
};
