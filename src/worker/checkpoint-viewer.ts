/**
 * "Open checkpoint…" in the page: a `.pth` of any SparK architecture SparkLab can build is read in the worker
 * straight from the File (streamed in ranges, never held twice; progress reported as it loads), its
 * configuration inferred from the tensor names and shapes, and an evaluation-only model built for it
 * (src/models/checkpoint-view.ts) shows its reconstructions of the user's images and the built-in photos.
 * Nothing is trained and the run (if any) is untouched.
 */

import { imageGrid, type RgbaPicture } from '../data/grid';
import type { RgbImage } from '../data/image';
import { centredSquares } from '../data/view-images';
import type { Gpu } from '../gpu/runtime';
import { openPth } from '../io/pth/read';
import { blobSource } from '../io/pth/source';
import { describeOpened, openForViewing } from '../io/pth/view-open';
import { viewCheckpoint } from '../models/checkpoint-view';
import { gridSize } from '../models/config';

export interface CheckpointViewOptions {
  /** Input size when the file does not say (encoder-only files); default 224. */
  inputSize?: number;
  /** Images shown at most (the user's first, then built-in photos). */
  count?: number;
  seed?: number;
}

export interface CheckpointViewResult {
  /** e.g. "ConvNeXt (dims 8-16, depths 1-2), 32 px, decoder width 16, densify norm ln (flat state dict)". */
  description: string;
  warnings: string[];
  loss: number;
  images: number;
  /** Rows: input, masked input, reconstruction. */
  grid: RgbaPicture;
  parameterBuffers: number;
}

export async function viewCheckpointFile(
  gpu: Gpu,
  file: Blob & { name?: string },
  sources: { user: readonly RgbImage[]; photos: (size: number) => Promise<readonly RgbImage[]> },
  options: CheckpointViewOptions,
  onProgress?: (bytesRead: number, bytesTotal: number) => void,
): Promise<CheckpointViewResult> {
  const archive = await openPth(blobSource(file, file.name ?? 'the checkpoint'));
  const opened = await openForViewing(archive, { inputSize: options.inputSize, onProgress });
  const S = opened.config.inputSize;
  const count = options.count ?? 6;
  const chosen = [...sources.user.slice(0, count)];
  if (chosen.length < count) chosen.push(...(await sources.photos(S)).slice(0, count - chosen.length));
  const images = centredSquares(chosen, S);
  const view = await viewCheckpoint(gpu, opened.config, opened.state, images, { seed: options.seed ?? 0 });
  const g = gridSize(opened.config);
  const grid = imageGrid(
    [
      { images: view.images },
      { images: view.masked, mask: { data: view.cells, height: g, width: g } },
      { images: view.composite },
    ],
    { size: S, columns: chosen.length, scale: S < 96 ? 2 : 1 },
  );
  return {
    description: describeOpened(opened),
    warnings: opened.warnings,
    loss: view.loss,
    images: chosen.length,
    grid,
    parameterBuffers: view.parameterBuffers,
  };
}
