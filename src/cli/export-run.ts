/**
 * The logic of `npm run export` (src/cli/export.ts is the entry point): read a checkpoint from any of the
 * sources SparkLab knows, write it in one of three formats. Everything is read and built before the output
 * is opened, and the output is written to a temporary name and renamed, so a refused input writes nothing.
 */
import { open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointNotFoundError } from '../io/checkpoint-store';
import { NodeCheckpointStore } from '../io/checkpoint-store-node';
import { toTrainerCheckpoint } from '../io/pth/convert';
import { PthError } from '../io/pth/errors';
import { fileSource } from '../io/pth/node-source';
import { epochOf, officialCheckpoint, officialEncoderCheckpoint, officialWarnings } from '../io/pth/official';
import { type OfficialImport, readOfficial } from '../io/pth/official-read';
import { openPth } from '../io/pth/read';
import { writePth } from '../io/pth/write';
import { readSafetensors } from '../io/safetensors';
import { loadState, STATE_FORMAT, saveState } from '../io/state';
import { type SparkConfig, validateSparkConfig } from '../models/config';
import {
  readTrainerCheckpoint,
  TRAINER_CHECKPOINT_FORMAT,
  type TrainerCheckpoint,
  writeTrainerCheckpoint,
} from '../train/checkpoint';

export const EXPORT_USAGE = `Usage: npm run export -- --checkpoint SRC --format official-pth|timm-pth|safetensors --out FILE [options]

SRC is a \`npm run train\` output folder (its latest checkpoint), a SparkLab .safetensors checkpoint or state
file, or a PyTorch .pth (an official SparK checkpoint, a flat state dict or a timm-style encoder).

  --format official-pth   the official SparK checkpoint (main.py --resume_from): module, optimizer, epoch, ...
  --format timm-pth       the encoder alone under timm names (like *_1kpretrained_timm_style.pth)
  --format safetensors    a SparkLab training checkpoint (or a state file when SRC has no optimizer state)

Options:
  --sbn                   mark the config for multi-GPU (SyncBatchNorm) continuation, as main.py sets it there
  --epoch N               the epoch to record (completed passes over the data minus one)
  --dataset-size N        count the epoch from the run's steps and batch instead
  --input-size N          input size of an encoder-only .pth (default 224)
  --config FILE.json      the SparkLab configuration of a .pth that matches no preset
  --seed N                seed of the continued SparkLab run when converting a .pth (default 0)
`;

export class ExportArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportArgsError';
  }
}

export interface ExportArgs {
  checkpoint: string;
  format: 'official-pth' | 'timm-pth' | 'safetensors';
  out: string;
  sbn: boolean;
  epoch?: number;
  datasetSize?: number;
  inputSize?: number;
  config?: string;
  seed: number;
  help: boolean;
}

export function parseExportArgs(argv: string[]): ExportArgs {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h' || arg === '--sbn') flags.add(arg);
    else if (arg.startsWith('--')) {
      const [key, inline] = arg.split('=', 2);
      const value = inline ?? argv[++i];
      if (value === undefined) throw new ExportArgsError(`${key} needs a value.`);
      values.set(key, value);
    } else throw new ExportArgsError(`Unexpected argument "${arg}"; see --help.`);
  }
  const known = [
    '--checkpoint',
    '--format',
    '--out',
    '--epoch',
    '--dataset-size',
    '--input-size',
    '--config',
    '--seed',
  ];
  for (const key of values.keys())
    if (!known.includes(key)) throw new ExportArgsError(`Unknown option ${key}; see --help.`);
  const help = flags.has('--help') || flags.has('-h');
  const int = (key: string, min: number): number | undefined => {
    const raw = values.get(key);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min)
      throw new ExportArgsError(`${key} must be an integer of at least ${min}, got "${raw}".`);
    return n;
  };
  const format = values.get('--format');
  if (!help) {
    if (!values.has('--checkpoint')) throw new ExportArgsError('--checkpoint SRC is required; see --help.');
    if (!values.has('--out')) throw new ExportArgsError('--out FILE is required; see --help.');
    if (format !== 'official-pth' && format !== 'timm-pth' && format !== 'safetensors')
      throw new ExportArgsError(
        `--format must be official-pth, timm-pth or safetensors, got "${format ?? ''}".`,
      );
  }
  return {
    checkpoint: values.get('--checkpoint') ?? '',
    format: (format ?? 'safetensors') as ExportArgs['format'],
    out: values.get('--out') ?? '',
    sbn: flags.has('--sbn'),
    epoch: int('--epoch', -1),
    datasetSize: int('--dataset-size', 1),
    inputSize: int('--input-size', 1),
    config: values.get('--config'),
    seed: int('--seed', 0) ?? 0,
    help,
  };
}

/** What a source holds: a full training checkpoint, or weights alone (with the epoch if the file said). */
export interface LoadedSource {
  config: SparkConfig;
  trainer?: TrainerCheckpoint;
  state: Map<string, Float32Array>;
  /** Whether the weights cover the decoder (not an encoder-only file). */
  full: boolean;
  epoch?: number;
  performanceDesc?: string;
  warnings: string[];
}

async function readBytes(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    return new Uint8Array(await handle.readFile());
  } finally {
    await handle.close();
  }
}

function fromImport(imported: OfficialImport, seed: number): LoadedSource {
  const source: LoadedSource = {
    config: imported.config,
    state: imported.state,
    full: imported.kind !== 'encoder',
    epoch: imported.epoch,
    performanceDesc: imported.performanceDesc,
    warnings: imported.warnings,
  };
  if (imported.optimizer)
    source.trainer = toTrainerCheckpoint(imported, { seed, runId: `imported-${imported.kind}` });
  return source;
}

export async function loadSource(args: ExportArgs): Promise<LoadedSource> {
  const path = args.checkpoint;
  const info = await stat(path).catch(() => {
    throw new ExportArgsError(`--checkpoint ${path} does not exist.`);
  });
  if (info.isDirectory()) {
    const store = new NodeCheckpointStore(join(path, 'checkpoints'), { extension: 'safetensors' });
    let bytes: Uint8Array;
    try {
      ({ bytes } = await store.load('latest'));
    } catch (error) {
      if (error instanceof CheckpointNotFoundError)
        throw new ExportArgsError(
          `${path} holds no training checkpoint (checkpoints/latest); train with --out ${path} first.`,
        );
      throw error;
    }
    const trainer = readTrainerCheckpoint(bytes, join(path, 'checkpoints', 'latest'));
    return { config: trainer.config, trainer, state: trainer.state, full: true, warnings: [] };
  }
  if (path.endsWith('.pth') || path.endsWith('.pt') || path.endsWith('.bin')) {
    const config = args.config
      ? validateSparkConfig(JSON.parse(new TextDecoder().decode(await readBytes(args.config))))
      : undefined;
    const source = await fileSource(path);
    try {
      const archive = await openPth(source);
      return fromImport(await readOfficial(archive, { config, inputSize: args.inputSize }), args.seed);
    } finally {
      await source.close();
    }
  }
  const bytes = await readBytes(path);
  const { metadata } = readSafetensors(bytes, path);
  if (metadata.format === TRAINER_CHECKPOINT_FORMAT) {
    const trainer = readTrainerCheckpoint(bytes, path);
    return { config: trainer.config, trainer, state: trainer.state, full: true, warnings: [] };
  }
  if (metadata.format === STATE_FORMAT && metadata.config) {
    const config = validateSparkConfig(JSON.parse(metadata.config) as SparkConfig);
    const { values } = loadState(config, bytes, path);
    const state = new Map([...values].map(([k, v]) => [k, Float32Array.from(v)]));
    return { config, state, full: true, warnings: [] };
  }
  throw new ExportArgsError(
    `${path} is a safetensors file but neither a SparkLab training checkpoint nor a state file (format "${metadata.format ?? 'none'}").`,
  );
}

/** The bytes to write (as chunks), plus what to tell the user. */
export function buildExport(
  args: ExportArgs,
  source: LoadedSource,
): { chunks: Uint8Array[]; notes: string[] } {
  const notes = [...source.warnings];
  if (args.format === 'timm-pth')
    return { chunks: writePth(officialEncoderCheckpoint(source.config, source.state)), notes };
  let trainer = source.trainer;
  let state = source.state;
  if (!source.full) {
    // An encoder alone: the decoder (and densify layers, mask tokens) start from the official initialisation.
    trainer = toTrainerCheckpoint(
      { kind: 'encoder', config: source.config, state, warnings: [] },
      { seed: args.seed },
    );
    state = trainer.state;
    notes.push(
      `The source holds an encoder alone; the decoder is freshly initialised (official init, seed ${args.seed}).`,
    );
  }
  trainer ??= toTrainerCheckpoint(
    { kind: 'flat', config: source.config, state, warnings: [] },
    { seed: args.seed },
  );
  if (args.format === 'safetensors') {
    if (source.trainer) return { chunks: [writeTrainerCheckpoint(trainer)], notes };
    notes.push(
      'The source has no optimizer state, so a SparkLab state file (weights and buffers) is written.',
    );
    return { chunks: [saveState(source.config, source.state)], notes };
  }
  let epoch = args.epoch;
  if (epoch === undefined && args.datasetSize !== undefined)
    epoch = epochOf(trainer.progress.step, trainer.progress.batch, args.datasetSize);
  if (epoch === undefined) epoch = source.epoch;
  if (epoch === undefined) {
    epoch = -1;
    notes.push(
      'No --epoch or --dataset-size was given, so the file records epoch -1 and the official main.py starts its schedule at epoch 0 (weights and optimizer state carry over).',
    );
  }
  if (!source.trainer)
    notes.push('The source has no optimizer state; the file holds a fresh optimizer (no moments, no steps).');
  notes.push(...officialWarnings(source.config));
  const root = officialCheckpoint(trainer, { sbn: args.sbn, epoch, performanceDesc: source.performanceDesc });
  return { chunks: writePth(root), notes };
}

/** Node refuses to write more than 2 GiB − 1 bytes in one call; a ConvNeXt-L checkpoint with its moments is 2.7 GB. */
export const WRITE_SLICE_BYTES = 2 ** 30;

/** Views of a chunk, in order, none longer than sliceBytes (no copy). */
export function slices(chunk: Uint8Array, sliceBytes: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < chunk.byteLength; at += sliceBytes)
    out.push(chunk.subarray(at, Math.min(chunk.byteLength, at + sliceBytes)));
  return out;
}

export async function writeChunks(
  path: string,
  chunks: readonly Uint8Array[],
  sliceBytes = WRITE_SLICE_BYTES,
): Promise<number> {
  const temporary = `${path}.partial`;
  const handle = await open(temporary, 'w');
  let bytes = 0;
  try {
    for (const chunk of chunks) {
      for (const slice of slices(chunk, sliceBytes)) {
        // FileHandle.write may write less than asked; go on from where it stopped.
        for (let done = 0; done < slice.byteLength; )
          done += (await handle.write(slice, done, slice.byteLength - done)).bytesWritten;
      }
      bytes += chunk.byteLength;
    }
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temporary, path);
  return bytes;
}

/** Runs the export; returns the lines to print. */
export async function runExport(argv: string[]): Promise<string[]> {
  const args = parseExportArgs(argv);
  if (args.help) return [EXPORT_USAGE];
  const source = await loadSource(args);
  const { chunks, notes } = buildExport(args, source);
  const bytes = await writeChunks(args.out, chunks);
  return [...notes.map((n) => `note: ${n}`), `wrote ${args.out} (${args.format}, ${bytes} bytes)`];
}

export function isKnownExportError(error: unknown): boolean {
  return (
    error instanceof ExportArgsError ||
    error instanceof PthError ||
    (error instanceof Error &&
      ['StateError', 'SafetensorsError', 'CheckpointFormatError', 'ConfigError'].includes(error.name))
  );
}
