/**
 * k-NN on L2-normalised features (cosine similarity), as in self-supervised evaluation (InstDisc, DINO):
 * the k most similar probe-train images vote for their class with weight exp(similarity / T). Computed in
 * float64 on the CPU: deterministic, and small next to the feature extraction (N_test · N_train · D).
 *
 * By default each feature is first standardised by its probe-train mean and variance — the linear probe's
 * BatchNorm without affine — because pooled ReLU features are all positive: their raw cosine similarities
 * crowd near 1 along the mean direction and a few large channels decide the neighbours. Every arm gets the
 * same treatment (on Fashion-MNIST's random-init tiny encoder it lifts k-NN from 44.8 % to 52.0 %, docs/PROBE.md).
 */
import type { FeatureSet } from './features';
import { featureStandardizer } from './linear';

export interface KnnOptions {
  /** Neighbours (default 20). */
  k?: number;
  /** Temperature of the vote weights (default 0.07). */
  temperature?: number;
  classes: number;
  /** Replaces the probe-train labels (the shuffled-label control). */
  trainLabels?: Int32Array;
  /** Standardise each feature by its probe-train mean and variance before normalising (default true). */
  standardize?: boolean;
}

type Standardizer = ReturnType<typeof featureStandardizer>;

function normalizedRows(f: FeatureSet, standardizer?: Standardizer): Float64Array {
  const out = new Float64Array(f.count * f.width);
  for (let r = 0; r < f.count; r++) {
    for (let c = 0; c < f.width; c++) {
      const v = f.data[r * f.width + c];
      out[r * f.width + c] = standardizer ? (v - standardizer.mean[c]) * standardizer.invStd[c] : v;
    }
    let norm = 0;
    for (let c = 0; c < f.width; c++) norm += out[r * f.width + c] ** 2;
    // An all-zero feature (a dead encoder) stays zero: similarity 0 to everything.
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let c = 0; c < f.width; c++) out[r * f.width + c] *= scale;
  }
  return out;
}

/** Predicted class of every probe-test row. */
export function knnPredict(train: FeatureSet, test: FeatureSet, options: KnnOptions): Int32Array {
  if (train.width !== test.width)
    throw new Error(`Train features have ${train.width} values per image, test features ${test.width}.`);
  const k = Math.min(options.k ?? 20, train.count);
  const T = options.temperature ?? 0.07;
  const labels = options.trainLabels ?? train.labels;
  const D = train.width;
  const standardizer = (options.standardize ?? true) ? featureStandardizer(train) : undefined;
  const a = normalizedRows(train, standardizer);
  const b = normalizedRows(test, standardizer);
  const predictions = new Int32Array(test.count);
  const sims = new Float64Array(train.count);
  const topIndex = new Int32Array(k);
  const topSim = new Float64Array(k);
  const votes = new Float64Array(options.classes);
  for (let t = 0; t < test.count; t++) {
    for (let r = 0; r < train.count; r++) {
      let s = 0;
      for (let c = 0; c < D; c++) s += a[r * D + c] * b[t * D + c];
      sims[r] = s;
    }
    // Insertion into a sorted top-k list; equal similarities keep the lower train index (stable).
    let filled = 0;
    for (let r = 0; r < train.count; r++) {
      const s = sims[r];
      if (filled === k && s <= topSim[k - 1]) continue;
      let i = filled < k ? filled++ : k - 1;
      while (i > 0 && topSim[i - 1] < s) {
        topSim[i] = topSim[i - 1];
        topIndex[i] = topIndex[i - 1];
        i--;
      }
      topSim[i] = s;
      topIndex[i] = r;
    }
    votes.fill(0);
    for (let i = 0; i < filled; i++) votes[labels[topIndex[i]]] += Math.exp(topSim[i] / T);
    let best = 0;
    for (let c = 1; c < options.classes; c++) if (votes[c] > votes[best]) best = c;
    predictions[t] = best;
  }
  return predictions;
}

export function accuracyOf(predictions: Int32Array, labels: Int32Array): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return labels.length === 0 ? 0 : correct / labels.length;
}

export function knnAccuracy(train: FeatureSet, test: FeatureSet, options: KnnOptions): number {
  return accuracyOf(knnPredict(train, test, options), test.labels);
}
