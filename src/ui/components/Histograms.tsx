import { useMemo } from 'react';
import type { PixelHistograms } from '../../data/histogram';
import { formatNumber, maxDensity } from '../charts';
import { useAppStore } from '../store';
import { useSampleHistograms } from '../teach/use-lesson';
import { type ChartSeries, RunChart } from './RunChart';

/** Fixed colours like the run curves': readable on the light and the dark theme alike. */
const BAR_COLOR = '#c2410c';
const REFERENCE_COLOR = '#7c8089';

function share(counts: ArrayLike<number>, bin: number): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  return total > 0 ? counts[bin] / total : 0;
}

/**
 * √(share of values) per bin at the bins' left edges, plus the last right edge (holding the last bar's
 * height) so that stepped bars close at the end of the range.
 */
export function sqrtShareBars(
  counts: ArrayLike<number>,
  edges: ArrayLike<number>,
): { x: number; y: number }[] {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  const points: { x: number; y: number }[] = [];
  for (let i = 0; i < counts.length; i++) {
    points.push({ x: edges[i], y: total > 0 ? Math.sqrt(counts[i] / total) : 0 });
  }
  if (counts.length > 0) points.push({ x: edges[counts.length], y: points[counts.length - 1].y });
  return points;
}

function HistogramChart(props: {
  title: string;
  counts: Float64Array;
  edges: Float64Array;
  reference?: Float64Array;
  yMax: number;
  note: string;
  testId: string;
  range: [number, number];
  kl?: number;
}) {
  const { counts, edges, reference, title } = props;
  const series = useMemo(() => {
    const out: ChartSeries[] = [
      { label: title, color: BAR_COLOR, fill: true, points: sqrtShareBars(counts, edges) },
    ];
    if (reference) {
      out.push({
        label: 'original',
        color: REFERENCE_COLOR,
        dash: true,
        points: sqrtShareBars(reference, edges),
      });
    }
    return out;
  }, [counts, edges, reference, title]);
  return (
    <div className="histogram">
      <RunChart
        series={series}
        title={`${title} pixel histogram`}
        caption={
          <>
            <strong>{title}</strong> {props.note}
          </>
        }
        testId={props.testId}
        attributes={{ 'data-kl': props.kl }}
        points={counts.length}
        height={170}
        xLabel="pixel value (normalised)"
        yLabel="√ share"
        bars
        xRange={props.range}
        yRange={[0, props.yMax]}
        tableRows={counts.length}
      />
    </div>
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
            edges={histograms.edges}
            yMax={view.yMax}
            note=""
            testId="hist-original"
            range={view.range}
          />
          <HistogramChart
            title="Zero-masked"
            counts={histograms.zeroMasked}
            edges={histograms.edges}
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
            edges={histograms.edges}
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
