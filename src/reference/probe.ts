/**
 * Float64 twins of shaders/probe.wgsl (src/engine/probe.ts), written for clarity: global average pooling of
 * NHWC maps and the softmax cross-entropy of a classifier head.
 */

/** out[b, offset + c] = mean over p of x[b, p, c]; x is [batch, hw, channels]; out rows hold `stride` floats. */
export function globalAvgPool(
  x: ArrayLike<number>,
  batch: number,
  hw: number,
  channels: number,
  stride = channels,
  offset = 0,
  out: Float64Array = new Float64Array(batch * stride),
): Float64Array {
  for (let b = 0; b < batch; b++)
    for (let c = 0; c < channels; c++) {
      let sum = 0;
      for (let p = 0; p < hw; p++) sum += x[(b * hw + p) * channels + c];
      out[b * stride + offset + c] = sum / hw;
    }
  return out;
}

/** dx[b, p, c] = dy[b, offset + c] / hw. */
export function globalAvgPoolBackward(
  dy: ArrayLike<number>,
  batch: number,
  hw: number,
  channels: number,
  stride = channels,
  offset = 0,
): Float64Array {
  const dx = new Float64Array(batch * hw * channels);
  for (let b = 0; b < batch; b++)
    for (let p = 0; p < hw; p++)
      for (let c = 0; c < channels; c++) dx[(b * hw + p) * channels + c] = dy[b * stride + offset + c] / hw;
  return dx;
}

/** Index of the first maximal value of row r. */
export function argmaxRow(logits: ArrayLike<number>, r: number, classes: number): number {
  let best = 0;
  for (let k = 1; k < classes; k++) if (logits[r * classes + k] > logits[r * classes + best]) best = k;
  return best;
}

/** Per row: [loss, correct] with loss = log Σ exp(z) − z_y (shifted by the row max) and correct ∈ {0, 1}. */
export function softmaxXent(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  rows: number,
  classes: number,
): Float64Array {
  const stats = new Float64Array(rows * 2);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[r * classes + k]);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += Math.exp(logits[r * classes + k] - max);
    stats[r * 2] = max + Math.log(sum) - logits[r * classes + labels[r]];
    stats[r * 2 + 1] = argmaxRow(logits, r, classes) === labels[r] ? 1 : 0;
  }
  return stats;
}

/** dlogits = scale · (softmax − onehot). */
export function softmaxXentBackward(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  rows: number,
  classes: number,
  scale: number,
): Float64Array {
  const d = new Float64Array(rows * classes);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[r * classes + k]);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += Math.exp(logits[r * classes + k] - max);
    for (let k = 0; k < classes; k++) {
      const p = Math.exp(logits[r * classes + k] - max) / sum;
      d[r * classes + k] = scale * (p - (k === labels[r] ? 1 : 0));
    }
  }
  return d;
}

/** [mean loss, number correct] of per-row stats. */
export function xentSummary(stats: ArrayLike<number>, rows: number): [number, number] {
  let loss = 0;
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    loss += stats[r * 2];
    correct += stats[r * 2 + 1];
  }
  return [loss / rows, correct];
}
