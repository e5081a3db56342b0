/**
 * The figures' common input: the chosen preset's model, a few held-out images loaded on the main thread, and
 * nested display masks at the slider's ratio. Needs no GPU and no run; when a run is configured with the same
 * preset its resolved model (ablations included) is used.
 */
import { useEffect, useMemo } from 'react';
import { pixelHistograms } from '../../data/histogram';
import { gridSize, type SparkConfig } from '../../models/config';
import { preset } from '../../models/presets';
import { lenKeep } from '../../sparse/mask';
import { useAppStore } from '../store';
import { displayMasks } from './lesson-math';
import { ensureLessonSample, sampleSourceFor } from './lesson-sample';
import { type LessonSample, useTeachStore } from './teach-store';

export interface LessonFigure {
  model: SparkConfig;
  grid: number;
  ratio: number;
  /** Visible cells per image at this ratio, or undefined when the ratio keeps none. */
  visibleCells?: number;
  sample?: LessonSample;
  /** [images, g, g] display masks, 1 = visible. */
  masks?: Uint8Array;
  /** Why nothing can be drawn yet (loading, or a sentence about the problem). */
  problem?: string;
}

export function useLessonFigure(): LessonFigure | undefined {
  const presetName = useAppStore((s) => s.form.preset);
  const dataset = useAppStore((s) => s.form.dataset);
  const ratio = useAppStore((s) => s.form.maskRatio);
  const runModel = useAppStore((s) => s.run.model);
  const sample = useTeachStore((s) => s.sample);
  const sampleError = useTeachStore((s) => s.sampleError);
  const model = useMemo(() => {
    try {
      const base = preset(presetName);
      return runModel &&
        runModel.inputSize === base.inputSize &&
        runModel.backbone.family === base.backbone.family
        ? runModel
        : base;
    } catch {
      return undefined;
    }
  }, [presetName, runModel]);
  const size = model?.inputSize;
  useEffect(() => {
    if (size !== undefined) void ensureLessonSample(dataset, size);
  }, [dataset, size]);
  return useMemo(() => {
    if (!model) return undefined;
    const grid = gridSize(model);
    const key = `${sampleSourceFor(dataset)}|${model.inputSize}`;
    const current = sample?.key === key ? sample : undefined;
    let visibleCells: number | undefined;
    let problem: string | undefined;
    try {
      visibleCells = lenKeep(grid, grid, ratio);
    } catch (error) {
      problem = (error as Error).message;
    }
    if (!current) problem ??= sampleError ?? 'Loading the example images…';
    const masks =
      current && visibleCells !== undefined ? displayMasks(current.images, grid, ratio) : undefined;
    return { model, grid, ratio, visibleCells, sample: current, masks, problem };
  }, [model, dataset, ratio, sample, sampleError]);
}

/** Figure 1 histograms of the example images under the display masks (used until a run sends its own). */
export function useSampleHistograms() {
  const figure = useLessonFigure();
  return useMemo(() => {
    if (!figure?.sample || !figure.masks) return undefined;
    const { sample, masks, grid } = figure;
    return pixelHistograms(sample.pixels, sample.images, sample.size, {
      data: masks,
      height: grid,
      width: grid,
    });
  }, [figure]);
}
