import { type Box, extent, formatNumber, linePath, niceTicks, type Point, scale } from '../charts';
import { useAppStore } from '../store';

const PAD = { left: 44, right: 8, top: 8, bottom: 22 };

/** A small SVG line chart with y ticks and the x range at the bottom. */
export function LineChart(props: {
  points: Point[];
  box: Box;
  label: string;
  testId: string;
  color: string;
  includeZero?: boolean;
}) {
  const { points, box } = props;
  const inner = { width: box.width - PAD.left - PAD.right, height: box.height - PAD.top - PAD.bottom };
  const xDomain = extent(points.map((p) => p.x));
  const yDomain = extent(
    points.map((p) => p.y),
    props.includeZero,
  );
  const sy = scale(yDomain, [inner.height, 0]);
  return (
    <svg
      viewBox={`0 0 ${box.width} ${box.height}`}
      className="chart"
      role="img"
      aria-label={props.label}
      data-testid={props.testId}
      data-points={points.length}
    >
      <g transform={`translate(${PAD.left},${PAD.top})`}>
        {niceTicks(yDomain[0], yDomain[1], 4).map((t) => (
          <g key={t} transform={`translate(0,${sy(t).toFixed(1)})`}>
            <line x2={inner.width} className="grid" />
            <text x={-6} dy="0.32em" textAnchor="end">
              {formatNumber(t)}
            </text>
          </g>
        ))}
        <path
          d={linePath(points, xDomain, yDomain, inner)}
          fill="none"
          stroke={props.color}
          strokeWidth={1.5}
        />
        {points.length > 0 && (
          <g className="x-range" transform={`translate(0,${inner.height + 15})`}>
            <text>step {formatNumber(xDomain[0])}</text>
            <text x={inner.width} textAnchor="end">
              {formatNumber(xDomain[1])}
            </text>
          </g>
        )}
      </g>
    </svg>
  );
}

function Readout(props: { label: string; value: string; testId?: string }) {
  return (
    <div className="readout">
      <span>{props.label}</span>
      <strong data-testid={props.testId}>{props.value}</strong>
    </div>
  );
}

export function MetricsPanel() {
  const metrics = useAppStore((s) => s.metrics);
  const adapterIsSoftware = useAppStore((s) => s.gpu.state === 'ready' && s.gpu.summary.isSoftware);
  const last = metrics[metrics.length - 1];
  const phases = last?.phaseMs ? Object.entries(last.phaseMs) : [];
  return (
    <section className="panel" aria-label="Training metrics">
      <h2>Loss and throughput</h2>
      {!last ? (
        <p className="hint">
          The masked-patch loss is read back from the GPU every few steps and plotted here.
        </p>
      ) : (
        <>
          <div className="readouts">
            <Readout label="step" value={String(last.step)} testId="metric-step" />
            <Readout label="loss" value={formatNumber(last.loss)} testId="metric-loss" />
            <Readout label="lr" value={formatNumber(last.lr)} />
            <Readout label="grad norm" value={formatNumber(last.gradNorm)} />
            <Readout label="images/s" value={formatNumber(last.imagesPerSecond)} testId="metric-throughput" />
            <Readout label="ms/step" value={formatNumber(last.stepMs)} />
            {last.heldOutLoss !== undefined && (
              <Readout label="held-out loss" value={formatNumber(last.heldOutLoss)} />
            )}
          </div>
          <div className="charts">
            <figure>
              <LineChart
                points={metrics.map((m) => ({ x: m.step, y: m.loss }))}
                box={{ width: 360, height: 170 }}
                label="Training loss by step"
                testId="loss-chart"
                color="#c2410c"
              />
              <figcaption>masked-patch loss (per-patch normalised target)</figcaption>
            </figure>
            <figure>
              <LineChart
                points={metrics.map((m) => ({ x: m.step, y: m.imagesPerSecond }))}
                box={{ width: 360, height: 170 }}
                label="Training throughput by step"
                testId="throughput-chart"
                color="#1d4ed8"
                includeZero
              />
              <figcaption>
                images per second{adapterIsSoftware ? ' (software adapter: not a speed measurement)' : ''}
              </figcaption>
            </figure>
          </div>
          {phases.length > 0 && (
            <p className="hint">
              Last step by phase (GPU timestamps):{' '}
              {phases.map(([name, ms]) => `${name} ${formatNumber(ms)} ms`).join(' · ')}
            </p>
          )}
        </>
      )}
    </section>
  );
}
