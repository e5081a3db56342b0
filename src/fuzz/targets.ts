/**
 * Fuzz targets: each knows how to make valid seed files, how to mutate them (generic byte mutations plus
 * format-aware ones) and how to run one input through the real readers and validators. A target's `run`
 * resolves 'accepted' or 'refused' (an error of a kind the reader promises: a sentence for the user) and
 * lets anything else escape: that is a crash. Another reader joins by adding an entry to FUZZ_TARGETS (the
 * .pth reader's target lives with it in src/io/pth/fuzz-target.ts).
 */

import { readCheckpointProgress } from '../cli/resume';
import { decodeImageNode } from '../data/decode-node';
import { probeImage } from '../data/image';
import { ImageCollection } from '../data/image-set';
import { jpegBytes, pngBytes } from '../data/test-images';
import { pthFuzzTarget } from '../io/pth/fuzz-target';
import { openSafetensors } from '../io/safetensors';
import { loadState, saveState } from '../io/state';
import { SPARK_DEFAULTS, type SparkConfig } from '../models/config';
import { sparkState } from '../models/official-names';
import { readTrainerCheckpoint, writeTrainerCheckpoint } from '../train/checkpoint';
import { FuzzRng, INTERESTING_U32, mutateBytes } from './mutate';

export type FuzzOutcome = 'accepted' | 'refused';

export interface FuzzTarget {
  name: string;
  /** Error names that mean "refused with a sentence"; anything else thrown is a crash. */
  expectedErrors: ReadonlySet<string>;
  seeds(): Promise<Uint8Array[]>;
  mutate(rng: FuzzRng, seed: Uint8Array): Uint8Array;
  run(bytes: Uint8Array): Promise<FuzzOutcome>;
}

/** The smallest real model (one ResNet stage at 8 px): its files are a few KiB, so fuzzing is fast. */
export const FUZZ_CONFIG: SparkConfig = {
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

function stateValues(config: SparkConfig, seed: number): Map<string, Float32Array> {
  const rng = new FuzzRng(seed);
  const values = new Map<string, Float32Array>();
  for (const e of sparkState(config)) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    values.set(
      e.name,
      e.dtype === 'I64' ? Float32Array.of(3) : Float32Array.from({ length: n }, () => rng.next() - 0.5),
    );
  }
  return values;
}

// ------------------------------------------------------------------ safetensors-aware mutations

const HUGE_NUMBERS = [
  -1,
  0.5,
  2 ** 31,
  2 ** 32,
  2 ** 40,
  2 ** 53,
  2 ** 53 + 2,
  1e300,
  Number.MAX_SAFE_INTEGER,
];
const ODD_VALUES: unknown[] = [null, 'x', [], {}, true, -1, 1.5, [1, 2, 3], { a: 1 }];

/** Splits a safetensors file into its header object and data section, or undefined when it has none. */
function splitSafetensors(
  bytes: Uint8Array,
): { header: Record<string, unknown>; data: Uint8Array } | undefined {
  if (bytes.length < 8) return undefined;
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n > bytes.length - 8) return undefined;
  try {
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    return typeof header === 'object' && header !== null
      ? { header, data: bytes.subarray(8 + n) }
      : undefined;
  } catch {
    return undefined;
  }
}

function joinSafetensors(header: unknown, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** JSON-level edits: shapes, offsets, dtypes, names, metadata, tensor count, and the length field. */
function mutateSafetensorsHeader(rng: FuzzRng, bytes: Uint8Array): Uint8Array {
  const parts = splitSafetensors(bytes);
  if (!parts) return mutateBytes(rng, bytes);
  const header = structuredClone(parts.header) as Record<string, Record<string, unknown>>;
  let data = parts.data;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = names.length > 0 ? rng.pick(names) : undefined;
  const tensor = name ? header[name] : undefined;
  switch (rng.int(12)) {
    case 0: // a dimension becomes huge, negative, fractional or another type
      if (tensor && Array.isArray(tensor.shape) && tensor.shape.length > 0)
        (tensor.shape as unknown[])[rng.int(tensor.shape.length)] =
          rng.next() < 0.7 ? rng.pick(HUGE_NUMBERS) : rng.pick(ODD_VALUES);
      else if (tensor) tensor.shape = [rng.pick(HUGE_NUMBERS)];
      break;
    case 1: // offsets moved, swapped, made huge, or given a matching huge shape
      if (tensor && Array.isArray(tensor.data_offsets)) {
        const offsets = tensor.data_offsets as number[];
        const which = rng.int(4);
        if (which === 0) tensor.data_offsets = [offsets[1], offsets[0]];
        else if (which === 1) offsets[rng.int(2)] = rng.pick(HUGE_NUMBERS);
        else if (which === 2) offsets[rng.int(2)] += rng.int(9) - 4;
        else {
          tensor.shape = [2 ** 20, 2 ** 20];
          tensor.dtype = 'F32';
          tensor.data_offsets = [offsets[0], offsets[0] + 2 ** 42];
        }
      }
      break;
    case 2:
      if (tensor) tensor.dtype = rng.pick(['F8', 'F64', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'f32', '', 7]);
      break;
    case 3:
      if (name) delete header[name];
      break;
    case 4: // a copy under another name (overlapping bytes)
      if (tensor) header[`${name}.copy`] = structuredClone(tensor);
      break;
    case 5: // many empty tensors
      for (let i = 0, n = 1 + rng.int(5000); i < n; i++)
        header[`empty.${i}`] = { dtype: 'U8', shape: [0], data_offsets: [0, 0] };
      break;
    case 6: {
      // metadata values of the wrong type, or configuration / progress JSON edited field by field
      const meta = (header.__metadata__ ?? {}) as Record<string, unknown>;
      const keys = Object.keys(meta);
      if (keys.length === 0 || rng.next() < 0.2)
        header.__metadata__ = rng.pick(ODD_VALUES) as Record<string, unknown>;
      else {
        const key = rng.pick(keys);
        try {
          const inner = JSON.parse(String(meta[key])) as Record<string, unknown>;
          if (inner && typeof inner === 'object') {
            const innerKeys = Object.keys(inner);
            const innerKey = innerKeys.length > 0 ? rng.pick(innerKeys) : 'x';
            inner[innerKey] = rng.next() < 0.5 ? rng.pick(HUGE_NUMBERS) : rng.pick(ODD_VALUES);
            meta[key] = JSON.stringify(inner);
          } else meta[key] = rng.pick(ODD_VALUES);
        } catch {
          meta[key] = String(meta[key]).slice(0, rng.int(20));
        }
      }
      break;
    }
    case 7: // the length field lies
      return joinSafetensors(header, data, BigInt(rng.pick(INTERESTING_U32)) * BigInt(1 + rng.int(3)));
    case 8:
      data = data.subarray(0, rng.int(data.length + 1));
      break;
    case 9:
      if (tensor) header[name!] = rng.pick(ODD_VALUES) as Record<string, unknown>;
      break;
    case 10: // deep rank
      if (tensor) tensor.shape = Array.from({ length: 1 + rng.int(64) }, () => 1);
      break;
    default:
      return joinSafetensors(rng.pick(ODD_VALUES), data);
  }
  return joinSafetensors(header, data);
}

function safetensorsMutator(rng: FuzzRng, seed: Uint8Array): Uint8Array {
  return rng.next() < 0.5 ? mutateSafetensorsHeader(rng, seed) : mutateBytes(rng, seed);
}

const WEIGHT_ERRORS = new Set(['SafetensorsError', 'StateError']);

export const weightsTarget: FuzzTarget = {
  name: 'weights',
  expectedErrors: WEIGHT_ERRORS,
  async seeds() {
    return [0, 1].map((s) => saveState(FUZZ_CONFIG, stateValues(FUZZ_CONFIG, s), { step: String(s) }));
  },
  mutate: safetensorsMutator,
  async run(bytes) {
    // The reader is opened once; loadState checks the header against the model before decoding.
    const reader = openSafetensors(bytes, 'fuzzed.safetensors');
    const { values } = loadState(FUZZ_CONFIG, reader, 'fuzzed.safetensors', {
      ignoreUnexpected: rngFlag(bytes),
    });
    for (const e of sparkState(FUZZ_CONFIG)) {
      const n = e.shape.reduce((a, b) => a * b, 1);
      if (values.get(e.name)?.length !== n)
        throw new Error(`accepted a file whose ${e.name} has the wrong length`);
    }
    return 'accepted';
  },
};

/** Half the inputs are loaded with ignoreUnexpected, chosen from the bytes so a run is reproducible. */
function rngFlag(bytes: Uint8Array): boolean {
  return bytes.length % 2 === 0;
}

export const checkpointTarget: FuzzTarget = {
  name: 'checkpoint',
  expectedErrors: new Set([...WEIGHT_ERRORS, 'CheckpointFormatError', 'ConfigError']),
  async seeds() {
    const state = stateValues(FUZZ_CONFIG, 7);
    const params = sparkState(FUZZ_CONFIG).filter((e) => e.kind === 'param');
    const moments = new Map(params.map((e) => [e.name, state.get(e.name)!]));
    return [
      writeTrainerCheckpoint({
        config: FUZZ_CONFIG,
        state,
        expAvg: moments,
        expAvgSq: moments,
        progress: {
          runId: 'fuzz',
          step: 3,
          totalSteps: 10,
          seed: 1,
          batch: 2,
          hyper: {
            optimizer: 'lamb',
            peakLr: 0.001,
            warmupSteps: 1,
            weightDecayStart: 0.04,
            weightDecayEnd: 0.2,
            beta1: 0.9,
            beta2: 0.95,
            maxGradNorm: 5,
          },
          dataRngState: 11,
          maskRngState: 12,
          optimizerSteps: { decay: 3, noDecay: 3 },
        },
      }),
    ];
  },
  mutate: safetensorsMutator,
  async run(bytes) {
    readCheckpointProgress(bytes, 'fuzzed-checkpoint');
    readTrainerCheckpoint(bytes, 'fuzzed-checkpoint');
    return 'accepted';
  },
};

// ------------------------------------------------------------------ images

/** Overwrites the size fields of a PNG IHDR or a JPEG SOF with awkward values; else a generic mutation. */
function mutateImageHeader(rng: FuzzRng, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  if (out.length > 29 && out[1] === 0x50 && out[2] === 0x4e) {
    const field = rng.pick([16, 20, 24, 25, 28]);
    if (field >= 24) out[field] = rng.int(256);
    else view.setUint32(field, rng.pick(INTERESTING_U32));
    return out;
  }
  if (out.length > 4 && out[0] === 0xff && out[1] === 0xd8) {
    for (let at = 2; at + 9 < out.length; ) {
      if (out[at] !== 0xff) break;
      const marker = out[at + 1];
      if (marker === 0xc0 || marker === 0xc2) {
        const field = rng.pick([4, 5, 7, 9]);
        if (field === 4 || field === 9) out[at + field] = rng.int(256);
        else view.setUint16(at + field, rng.pick([0, 1, 0x7fff, 0xffff, rng.int(65536)]));
        return out;
      }
      at += 2 + view.getUint16(at + 2);
    }
  }
  return mutateBytes(rng, bytes);
}

async function sharpSeeds(): Promise<Uint8Array[]> {
  const { default: sharp } = await import('sharp');
  const raw = Buffer.alloc(6 * 4 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37) % 256;
  const image = () => sharp(raw, { raw: { width: 6, height: 4, channels: 3 } });
  return [
    new Uint8Array(await image().webp().toBuffer()),
    new Uint8Array(await image().webp({ lossless: true }).toBuffer()),
    new Uint8Array(await image().avif({ quality: 50 }).toBuffer()),
    new Uint8Array(await image().png({ progressive: true }).toBuffer()),
    new Uint8Array(await image().toColourspace('cmyk').jpeg().toBuffer()),
    new Uint8Array(await image().jpeg({ progressive: true }).toBuffer()),
  ];
}

export const imagesTarget: FuzzTarget = {
  name: 'images',
  expectedErrors: new Set(),
  async seeds() {
    return [
      pngBytes(
        5,
        3,
        Array.from({ length: 60 }, (_, i) => (i * 29) % 256),
      ),
      pngBytes(
        4,
        4,
        Array.from({ length: 64 }, (_, i) => (i * 13) % 256),
        { colorType: 0 },
      ),
      jpegBytes(8, 8, (x, y) => [x * 30, y * 30, 100]),
      ...(await sharpSeeds()),
    ];
  },
  mutate(rng, seed) {
    return rng.next() < 0.4 ? mutateImageHeader(rng, seed) : mutateBytes(rng, seed);
  },
  async run(bytes) {
    // The probe must answer for any bytes; the collection must turn any file into an image or a reason.
    probeImage(bytes);
    const images = new ImageCollection(decodeImageNode, { limits: { maxSide: 4096, maxPixels: 1_000_000 } });
    const { added, skipped } = await images.add([{ name: 'fuzzed', bytes }]);
    if (added.length + skipped.length !== 1)
      throw new Error('the collection neither added nor skipped the file');
    if (skipped.length === 1 && !skipped[0].reason) throw new Error('a file was skipped without a reason');
    return added.length === 1 ? 'accepted' : 'refused';
  },
};

export const FUZZ_TARGETS: Readonly<Record<string, FuzzTarget>> = {
  weights: weightsTarget,
  checkpoint: checkpointTarget,
  images: imagesTarget,
  // The PyTorch .pth reader (src/io/pth), with its own pth-aware mutations.
  pth: pthFuzzTarget,
};
