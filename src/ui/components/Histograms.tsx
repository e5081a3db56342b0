import { useMemo } from 'react';
import type { PixelHistograms } from '../../data/histogram';
import { formatNumber, histogramPath, maxDensity } from '../charts';
import { useAppStore } from '../store';
import { useSampleHistograms } from '../teach/use-lesson';

const BOX = { width: 220, height: 110 };

function share(counts: ArrayLike<number>, bin: number): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  return total > 0 ? counts[bin] / total : 0;
}

function HistogramChart(props: {
  title: string;
  counts: Float64Array;
  reference?: Float64Array;
  yMax: number;
  note: string;
  testId: string;
  range?: [number, number];
  kl?: number;
}) {
  return (
    <figure className="histogram" data-testid={props.testId} data-kl={props.kl}>
      <svg
        viewBox={`0 0 ${BOX.width} ${BOX.height}`}
        role="img"
        aria-label={`${props.title} pixel histogram`}
      >
        <path d={histogramPath(props.counts, props.yMax, BOX, 'sqrt')} className="hist-fill" />
        {props.reference && (
          <path d={histogramPath(props.reference, props.yMax, BOX, 'sqrt')} className="hist-reference" />
        )}
      </svg>
      {props.range && (
        <div className="hist-axis">
          <span>{formatNumber(props.range[0])}</span>
          <span>pixel value (normalised)</span>
          <span>{formatNumber(props.range[1])}</span>
        </div>
      )}
      <figcaption>
        <strong>{props.title}</strong> {props.note}
      </figcaption>
    </figure>
  );
}

function zeroBinOf(h: PixelHistograms): number {
  for (let i = 0; i + 1 < h.edges.length; i++) if (h.edges[i] <= 0 && 0 < h.edges[i + 1]) return i;
  return -1;
}

export function HistogramPanel() {
  const runHistograms = useAppStore((s) => s.snapshot?.histograms);
  const step = useAppStore((s) => s.snapshot?.step);
  const ratio = useAppStore((s) => s.form.maskRatio);
  // Before a run (or without WebGPU) the held-out example images under CPU-drawn masks stand in.
  const sampleHistograms = useSampleHistograms();
  const histograms = runHistograms ?? sampleHistograms;
  const view = useMemo(() => {
    if (!histograms) return undefined;
    // A √-density axis shared by the three, topped by the tallest bin of any: the zero-masking spike shows in
    // full without flattening the rest.
    const yMax =
      1.05 *
      Math.sqrt(
        Math.max(
          maxDensity(histograms.original),
          maxDensity(histograms.zeroMasked),
          maxDensity(histograms.visibleOnly),
        ),
      );
    const zeroBin = zeroBinOf(histograms);
    const range: [number, number] = [histograms.edges[0], histograms.edges[histograms.edges.length - 1]];
    return { yMax, range, spike: zeroBin >= 0 ? share(histograms.zeroMasked, zeroBin) : 0 };
  }, [histograms]);
  return (
    <section className="panel" aria-label="Pixel histograms">
      <h2>
        What the encoder sees
        {runHistograms ? (
          step !== undefined && <small> · training batch, step {step}</small>
        ) : (
          <small> · example images at mask ratio {ratio.toFixed(2)}</small>
        )}
      </h2>
      <p className="hint">
        Zero-masking (filling masked cells with 0 for a dense convnet) piles pixels onto 0 and shifts the
        input distribution; a sparse encoder sees only the visible pixels, whose distribution stays close to
        the original (dashed). Bar heights are √(share of values); KL divergence from the original in nats.
      </p>
      {!histograms || !view ? (
        <p className="hint">Loading the example images…</p>
      ) : (
        <div className="histograms">
          <HistogramChart
            title="Original"
            counts={histograms.original}
            yMax={view.yMax}
            note=""
            testId="hist-original"
            range={view.range}
          />
          <HistogramChart
            title="Zero-masked"
            counts={histograms.zeroMasked}
            reference={histograms.original}
            yMax={view.yMax}
            note={`KL ${formatNumber(histograms.klZeroMasked)} · ${(100 * view.spike).toFixed(0)}% of values in the bin at 0`}
            testId="hist-zero-masked"
            range={view.range}
            kl={histograms.klZeroMasked}
          />
          <HistogramChart
            title="Visible only"
            counts={histograms.visibleOnly}
            reference={histograms.original}
            yMax={view.yMax}
            note={`KL ${formatNumber(histograms.klVisibleOnly)} · ${(100 * histograms.visibleFraction).toFixed(0)}% of pixels visible`}
            testId="hist-visible-only"
            range={view.range}
            kl={histograms.klVisibleOnly}
          />
        </div>
      )}
    </section>
  );
}
