/** The GPU SparK model (implementation of ./spark-model.ts). */
import type { Gpu } from '../gpu/runtime';
import type { SparkConfig } from './config';
import type { SparkGpuModel, SparkModelOptions } from './spark-model';

export function createSparkModel(
  _gpu: Gpu,
  _config: SparkConfig,
  _batch: number,
  _options: SparkModelOptions = {},
): SparkGpuModel {
  throw new Error('createSparkModel: the GPU SparK model is being implemented (issue 5).');
}
