import { formatNumber } from '../charts';
import { useLabStore } from '../lab-store';
import { useAppStore } from '../store';
import { LabCharts } from './LabCharts';
import { RunChart } from './RunChart';

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
  const keptRuns = useLabStore((s) => s.runs.length);
  return (
    <section className="panel" aria-label="Training metrics">
      <h2>Loss and throughput</h2>
      {!last && (
        <p className="hint">
          The masked-patch loss is read back from the GPU every few steps and plotted here.
        </p>
      )}
      {(last || keptRuns > 0) && <LabCharts />}
      {last && (
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
          <RunChart
            series={[
              {
                label: 'images/s',
                color: '#1d4ed8',
                points: metrics.map((m) => ({ x: m.step, y: m.imagesPerSecond })),
              },
            ]}
            title={`Images per second (current run)${adapterIsSoftware ? ' — software adapter: not a speed measurement' : ''}`}
            testId="throughput-chart"
            points={metrics.length}
            height={140}
            yLabel="images/s"
          />
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
