/**
 * The logic of `npm run view-checkpoint` (src/cli/view.ts is the entry point): open a PyTorch `.pth` of any SparK
 * architecture SparkLab can build (official checkpoint, flat state dict or timm-style encoder), build an
 * evaluation-only model for it, and write its reconstructions of the built-in photos or a folder of images
 * as a PNG grid (rows: input, masked input, reconstruction), without training anything.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { NODE_DATA_ROOT, photoDatasetNode } from '../data/builtin-node';
import { decodeImageNode, listImageFolder } from '../data/decode-node';
import { ImageCollection } from '../data/image-set';
import { gridPng } from '../data/png-grid';
import { centredSquares } from '../data/view-images';
import type { Gpu } from '../gpu/runtime';
import { PthError } from '../io/pth/errors';
import { fileSource } from '../io/pth/node-source';
import { openPth } from '../io/pth/read';
import { describeOpened, openForViewing } from '../io/pth/view-open';
import { type CheckpointView, viewCheckpoint } from '../models/checkpoint-view';
import { ConfigError, gridSize } from '../models/config';

export const VIEW_USAGE = `Usage: npm run view-checkpoint -- --checkpoint FILE.pth [options]

Opens a PyTorch .pth of a SparK model (an official checkpoint, a flat state dict or a timm-style encoder;
ResNets with timm names and ConvNeXts with the official names, any depths and widths), and writes its
reconstructions as a PNG grid (rows: input, masked input, reconstruction). Nothing is trained.

Options:
  --images DIR       a folder of PNG/JPEG images (default: the built-in photos)
  --count N          images to show (default 6)
  --input-size N     input size when the file does not say (encoder-only files; default 224)
  --seed N           seed of the random masks (default 0)
  --out FILE.png     where to write the grid (default view.png)
`;

export class ViewArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ViewArgsError';
  }
}

export interface ViewArgs {
  checkpoint: string;
  images?: string;
  count: number;
  inputSize?: number;
  seed: number;
  out: string;
  help: boolean;
}

export function parseViewArgs(argv: string[]): ViewArgs {
  const values = new Map<string, string>();
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') help = true;
    else if (arg.startsWith('--')) {
      const [key, inline] = arg.split('=', 2);
      const value = inline ?? argv[++i];
      if (value === undefined) throw new ViewArgsError(`${key} needs a value.`);
      if (!['--checkpoint', '--images', '--count', '--input-size', '--seed', '--out'].includes(key))
        throw new ViewArgsError(`Unknown option ${key}; see --help.`);
      values.set(key, value);
    } else throw new ViewArgsError(`Unexpected argument "${arg}"; see --help.`);
  }
  const int = (key: string, min: number): number | undefined => {
    const raw = values.get(key);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min)
      throw new ViewArgsError(`${key} must be an integer of at least ${min}, got "${raw}".`);
    return n;
  };
  if (!help && !values.has('--checkpoint'))
    throw new ViewArgsError('--checkpoint FILE.pth is required; see --help.');
  return {
    checkpoint: values.get('--checkpoint') ?? '',
    images: values.get('--images'),
    count: int('--count', 1) ?? 6,
    inputSize: int('--input-size', 1),
    seed: int('--seed', 0) ?? 0,
    out: values.get('--out') ?? 'view.png',
    help,
  };
}

/** Opens, evaluates and writes the grid; returns the lines to print. */
export async function runView(
  argv: string[],
  createGpu: () => Promise<Gpu>,
  dataRoot: URL = NODE_DATA_ROOT,
): Promise<{ lines: string[]; view?: CheckpointView }> {
  const args = parseViewArgs(argv);
  if (args.help) return { lines: [VIEW_USAGE] };
  const source = await fileSource(args.checkpoint).catch((error: Error) => {
    throw new ViewArgsError(`Cannot read ${args.checkpoint}: ${error.message}`);
  });
  const lines: string[] = [];
  let opened: Awaited<ReturnType<typeof openForViewing>>;
  try {
    const archive = await openPth(source);
    let shown = 0;
    opened = await openForViewing(archive, {
      inputSize: args.inputSize,
      onProgress: (read, total) => {
        const percent = Math.floor((100 * read) / Math.max(1, total));
        if (percent >= shown + 25) {
          shown = percent;
          lines.push(`loading weights: ${percent}%`);
        }
      },
    });
  } finally {
    await source.close();
  }
  lines.push(`Opened ${describeOpened(opened)}.`);
  for (const warning of opened.warnings) lines.push(`warning: ${warning}`);

  const S = opened.config.inputSize;
  let images: Float32Array;
  if (args.images) {
    if (!(await stat(args.images).catch(() => undefined))?.isDirectory())
      throw new ViewArgsError(`--images ${args.images} is not a folder.`);
    const collection = new ImageCollection(decodeImageNode);
    await collection.add(await listImageFolder(args.images));
    images = centredSquares(collection.requireUsable().slice(0, args.count), S);
  } else {
    const photos = await photoDatasetNode({ imageSize: S }, dataRoot);
    images = centredSquares([...photos.train, ...photos.heldOut].slice(0, args.count), S);
  }
  const gpu = await createGpu();
  const view = await viewCheckpoint(gpu, opened.config, opened.state, images, { seed: args.seed });
  const count = images.length / (3 * S * S);
  const g = gridSize(opened.config);
  const png = gridPng(
    [
      { images: view.images },
      { images: view.masked, mask: { data: view.cells, height: g, width: g } },
      { images: view.composite },
    ],
    { size: S, columns: count, scale: S < 96 ? 2 : 1 },
  );
  await mkdir(dirname(args.out), { recursive: true });
  await writeFile(args.out, png);
  lines.push(
    `Masked-patch loss ${view.loss.toFixed(4)} on ${count} image(s) at mask ratio ${opened.config.maskRatio} ` +
      `(weights in ${view.parameterBuffers} GPU buffer(s), ${gpu.label}); grid written to ${args.out}.`,
  );
  return { lines, view };
}

export function isKnownViewError(error: unknown): boolean {
  return error instanceof ViewArgsError || error instanceof PthError || error instanceof ConfigError;
}
