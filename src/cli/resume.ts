/**
 * What `npm run train -- --resume` needs to know before the GPU is touched: where the saved run stands (from
 * the checkpoint's header alone, no tensor decoded), and which of the given flags the saved run overrides, so
 * the user is told instead of silently getting the old values.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { openSafetensors, SafetensorsError } from '../io/safetensors';
import { formatMismatch } from '../io/state';
import type { SparkConfig } from '../models/config';
import { CheckpointFormatError, TRAINER_CHECKPOINT_FORMAT, type TrainerProgress } from '../train/checkpoint';
import type { TrainArgs } from './args';

export interface SavedRun {
  config: SparkConfig;
  progress: TrainerProgress;
}

function parseMetadata<T>(text: string | undefined, what: string, fileName: string): T {
  try {
    if (text !== undefined) {
      const value = JSON.parse(text) as unknown;
      if (typeof value === 'object' && value !== null) return value as T;
    }
  } catch {
    // Reported below.
  }
  throw new CheckpointFormatError(
    `${fileName} has no readable ${what} in its metadata; it cannot be resumed.`,
  );
}

/** The configuration and progress in a trainer checkpoint's metadata; the header is checked, no tensor read. */
export function readCheckpointProgress(bytes: Uint8Array, fileName: string): SavedRun {
  let metadata: Record<string, string>;
  try {
    metadata = openSafetensors(bytes, fileName).metadata;
  } catch (error) {
    if (error instanceof SafetensorsError) throw new CheckpointFormatError(error.message);
    throw error;
  }
  const mismatch = formatMismatch(metadata.format, TRAINER_CHECKPOINT_FORMAT, fileName);
  if (mismatch) throw new CheckpointFormatError(`${mismatch} It cannot be resumed.`);
  const progress = parseMetadata<TrainerProgress>(metadata.progress, 'training progress', fileName);
  if (
    !Number.isSafeInteger(progress.step) ||
    !Number.isSafeInteger(progress.totalSteps) ||
    progress.step < 0 ||
    progress.totalSteps < 1
  )
    throw new CheckpointFormatError(
      `${fileName} has a damaged step count in its metadata; it cannot be resumed.`,
    );
  return { config: parseMetadata<SparkConfig>(metadata.config, 'configuration', fileName), progress };
}

/** One sentence per flag whose value the resumed run replaces with its saved one. */
export function resumeOverrides(args: TrainArgs, saved: SavedRun): string[] {
  const out: string[] = [];
  const { progress, config } = saved;
  const ignored = (flag: string, given: unknown, kept: unknown, what: string) =>
    out.push(`${flag} ${given} is ignored: the resumed run keeps its saved ${what} ${kept}.`);
  if (args.lr !== undefined && args.lr !== progress.hyper?.peakLr)
    ignored('--lr', args.lr, progress.hyper?.peakLr, 'learning rate');
  if (args.optimizer !== undefined && args.optimizer !== progress.hyper?.optimizer)
    ignored('--optimizer', args.optimizer, progress.hyper?.optimizer, 'optimiser');
  if (args.maskRatio !== undefined && args.maskRatio !== config.maskRatio)
    ignored('--mask-ratio', args.maskRatio, config.maskRatio, 'mask ratio');
  if (args.dropPath !== undefined && args.dropPath !== (config.dropPathRate ?? 0))
    ignored('--drop-path', args.dropPath, config.dropPathRate ?? 0, 'drop-path rate');
  if (args.seed !== progress.seed)
    out.push(
      `--seed ${args.seed} is ignored: the resumed run keeps its saved seed ${progress.seed}, so its data ` +
        'order and masks continue where they stopped.',
    );
  return out;
}

/**
 * Errors whose message is a complete sentence for the user: printed without a stack trace (exit status 2).
 * Anything else is a bug and keeps its stack.
 */
export const KNOWN_ERROR_NAMES: ReadonlySet<string> = new Set([
  'ArgsError',
  'ConfigError',
  'NoAdapterError',
  'StateError',
  'SafetensorsError',
  'CheckpointFormatError',
  'CheckpointNotFoundError',
  'CheckpointRecordError',
  'CheckpointFileError',
  'NoUsableImagesError',
  'ImageFolderError',
]);

/** A known error, or a file-system error (no space, no permission…), whose message names the path. */
export function isKnownError(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return KNOWN_ERROR_NAMES.has(error.name) || (typeof code === 'string' && /^E[A-Z]+$/.test(code));
}

/** What the first run of an output folder records (run.json): the held-out loss before any training. */
export interface RunRecord {
  /** null when the record was lost: a resumed run cannot measure the loss before training again. */
  initialHeldOutLoss: number | null;
  preset: string;
  data: string;
}

/** Written to a temporary file and renamed over the old one, so a crash never leaves half a record. */
export async function writeFileAtomically(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
}

/** The record of the first run, or undefined (with the reason logged) when it is missing or damaged. */
export async function readRunRecord(path: string, log: (m: string) => void): Promise<RunRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(path, 'utf8')) as RunRecord;
    if (typeof record?.initialHeldOutLoss === 'number') return record;
  } catch {
    // Reported below.
  }
  log(
    `${path} is missing or damaged, so the held-out loss before training is unknown; the run continues and ` +
      'its final line reports that loss as null.',
  );
  return undefined;
}
