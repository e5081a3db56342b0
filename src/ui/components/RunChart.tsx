/**
 * Curves of several runs with uPlot (legend, hover read-out, log scale), each with a visually hidden data
 * table for screen readers. Runs that differ only by seed can be drawn as their mean with a min–max band.
 * With `bars` the same wrapper draws histograms: x holds the bin edges and each value is held up to the next.
 */
import { type ReactNode, useEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatNumber } from '../charts';

export interface ChartSeries {
  label: string;
  color: string;
  points: { x: number; y: number }[];
  dash?: boolean;
  /** Fill the area under the line (the bars of a histogram) with the colour, translucent. */
  fill?: boolean;
  /** A band drawn under the line: [lower, upper] at the same x as `points`. */
  band?: { lower: number[]; upper: number[] };
}

/** Exponential moving average (weight `smoothing` on the past), as loss curves are usually smoothed. */
export function smooth(values: number[], smoothing: number): number[] {
  if (smoothing <= 0) return values;
  const out: number[] = [];
  let average: number | undefined;
  for (const v of values) {
    if (!Number.isFinite(v)) {
      out.push(v);
      continue;
    }
    average = average === undefined ? v : smoothing * average + (1 - smoothing) * v;
    out.push(average);
  }
  return out;
}

/** Series on one shared x axis (uPlot's aligned data: null where a run has no reading at that step). */
export function alignSeries(series: ChartSeries[]): uPlot.AlignedData {
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const columns: (number | null)[][] = [];
  for (const s of series) {
    const column: (number | null)[] = new Array(xs.length).fill(null);
    for (const p of s.points) column[index.get(p.x) as number] = Number.isFinite(p.y) ? p.y : null;
    columns.push(column);
    if (s.band) {
      const lower: (number | null)[] = new Array(xs.length).fill(null);
      const upper: (number | null)[] = new Array(xs.length).fill(null);
      s.points.forEach((p, i) => {
        lower[index.get(p.x) as number] = s.band?.lower[i] ?? null;
        upper[index.get(p.x) as number] = s.band?.upper[i] ?? null;
      });
      columns.push(lower, upper);
    }
  }
  return [xs, ...columns] as uPlot.AlignedData;
}

const TABLE_ROWS = 40;

export function RunChart(props: {
  series: ChartSeries[];
  title: string;
  testId: string;
  /** data-points: the readings of the current run (the existing hook). */
  points: number;
  log?: boolean;
  height?: number;
  yLabel: string;
  /** The x axis and the table's first column; 'step' unless given. */
  xLabel?: string;
  /** Stepped bars: x are bin edges, the last point only closes the last bar (and is not a table row). */
  bars?: boolean;
  /** Fixed axis ranges, so that charts side by side share their scales. */
  xRange?: [number, number];
  yRange?: [number, number];
  /** Shown instead of the title under the chart. */
  caption?: ReactNode;
  /** More data-* attributes on the chart box (test hooks). */
  attributes?: Record<`data-${string}`, string | number | undefined>;
  /** Most rows in the hidden table (readings are thinned evenly beyond). */
  tableRows?: number;
}) {
  const xLabel = props.xLabel ?? 'step';
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = useMemo(() => alignSeries(props.series), [props.series]);
  const shape = JSON.stringify([
    props.series.map((s) => [s.label, s.color, s.dash ?? false, !!s.band]),
    props.log ?? false,
    xLabel,
    props.bars ?? false,
    props.xRange ?? null,
    props.yRange ?? null,
  ]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: rebuilt only when the series' shape changes; data updates below
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const series: uPlot.Series[] = [{ label: xLabel }];
    const steppedPath = props.bars ? uPlot.paths.stepped?.({ align: 1 }) : undefined;
    const bands: uPlot.Band[] = [];
    for (const s of props.series) {
      series.push({
        label: s.label,
        stroke: s.color,
        width: 1.5,
        dash: s.dash ? [5, 3] : undefined,
        fill: s.fill ? `${s.color}88` : undefined,
        paths: steppedPath,
        points: props.bars ? { show: false } : undefined,
        spanGaps: true,
        value: (_u, v) => (v === null || v === undefined ? '–' : formatNumber(v)),
      });
      if (s.band) {
        const upper = series.length + 1;
        series.push({ label: `${s.label} min`, stroke: 'transparent', spanGaps: true, show: true });
        series.push({ label: `${s.label} max`, stroke: 'transparent', spanGaps: true, show: true });
        bands.push({ series: [upper, upper - 1], fill: `${s.color}22` });
      }
    }
    const width = Math.max(240, element.clientWidth || 360);
    const chart = new uPlot(
      {
        width,
        height: props.height ?? 200,
        series,
        bands,
        scales: {
          x: props.xRange ? { time: false, range: props.xRange } : { time: false },
          y: props.log ? { distr: 3, log: 10 } : props.yRange ? { range: props.yRange } : {},
        },
        axes: [
          { label: xLabel, size: 36 },
          { label: props.yLabel, size: 56 },
        ],
        // Bars read best without a legend under each of the small charts; their table carries the values.
        legend: { show: !props.bars, live: true },
        cursor: { drag: { x: true, y: false } },
      },
      data,
      element,
    );
    plot.current = chart;
    // A band's lower and upper edges are series for uPlot; the legend lists only the lines.
    const legendRows = chart.root.querySelectorAll<HTMLElement>('.u-legend .u-series');
    series.forEach((s, i) => {
      if (s.stroke === 'transparent' && legendRows[i]) legendRows[i].style.display = 'none';
    });
    const resize = new ResizeObserver(() => {
      const w = element.clientWidth;
      if (w > 0 && Math.abs(w - chart.width) > 4) chart.setSize({ width: w, height: props.height ?? 200 });
    });
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, [shape]);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
  const rows = useMemo(() => {
    const xs = data[0] as number[];
    // With bars the last x is the right edge of the last bin, not a reading of its own.
    const count = props.bars ? xs.length - 1 : xs.length;
    const stride = Math.max(1, Math.ceil(count / (props.tableRows ?? TABLE_ROWS)));
    return xs.slice(0, count).flatMap((_x, i) => (i % stride === 0 || i === count - 1 ? [i] : []));
  }, [data, props.bars, props.tableRows]);
  const xText = (x: number) => (Number.isInteger(x) ? String(x) : formatNumber(x));
  const lineColumns = props.series.map((s, i) => ({
    s,
    column: 1 + props.series.slice(0, i).reduce((n, t) => n + (t.band ? 3 : 1), 0),
  }));
  return (
    <figure className="run-chart">
      <div
        ref={box}
        className="uplot-box"
        role="img"
        aria-label={`${props.title}: ${props.series.length} run${props.series.length === 1 ? '' : 's'}`}
        data-testid={props.testId}
        data-points={props.points}
        data-series={props.series.length}
        {...props.attributes}
      />
      <figcaption>{props.caption ?? props.title}</figcaption>
      <div className="visually-hidden">
        <table>
          <caption>{props.title} (every reading shown as a table)</caption>
          <thead>
            <tr>
              <th scope="col">{props.bars ? `bin (${xLabel} from–to)` : xLabel}</th>
              {props.series.map((s) => (
                <th scope="col" key={s.label}>
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((i) => (
              <tr key={i}>
                <th scope="row">
                  {props.bars
                    ? `${xText((data[0] as number[])[i])} to ${xText((data[0] as number[])[i + 1])}`
                    : (data[0] as number[])[i]}
                </th>
                {lineColumns.map(({ s, column }) => {
                  const v = (data[column] as (number | null)[])[i];
                  return <td key={s.label}>{v === null || v === undefined ? '' : formatNumber(v)}</td>;
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}
