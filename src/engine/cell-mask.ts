/** The cell mask conv2d.ts and reduce.ts both take, in a module of its own so neither imports the other. */
import type { GpuTensor } from '../gpu/runtime';

/**
 * A visibility mask at cell resolution, [batch, gridH, gridW] (1 = visible): position (y, x) of a map reads
 * cell (y / cellH, x / cellW). `kind` says whether the buffer holds u32 flags or f32 values.
 */
export interface GpuCellMask {
  tensor: GpuTensor;
  kind: 'u32' | 'f32';
  gridH: number;
  gridW: number;
  cellH: number;
  cellW: number;
}
