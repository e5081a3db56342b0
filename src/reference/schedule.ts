/**
 * Float64 reference of the official schedules (SparK pretrain/utils/lr_control.py, spark-spec §5.1), written
 * straight from the formulas as an independent check of src/train/schedule.ts:
 *   warm-up (it < wp):  lr = peak·(0.005 + 0.995·it/wp)
 *   then:               lr = peak·(0.001 + 0.999·(0.5 + 0.5·cos(π·(it − wp)/(max − 1 − wp))))
 *   weight decay:       wd = wdEnd + (wd0 − wdEnd)·(0.5 + 0.5·cos(π·it/(max − 1)))
 */
export function referenceLr(it: number, peak: number, warmup: number, max: number): number {
  if (it < warmup) return peak * (0.005 + (0.995 * it) / warmup);
  const progress = (it - warmup) / (max - 1 - warmup);
  return peak * (0.001 + 0.999 * (0.5 + 0.5 * Math.cos(Math.PI * progress)));
}

export function referenceWd(it: number, wd0: number, wdEnd: number, max: number): number {
  return wdEnd + (wd0 - wdEnd) * (0.5 + 0.5 * Math.cos((Math.PI * it) / (max - 1)));
}
