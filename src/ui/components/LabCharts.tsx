/**
 * The compared runs' curves: training loss (each run in its own units: its target and loss setting) and the
 * held-out yardstick that puts every run on the same scale. Runs that differ only by seed can be drawn as
 * their mean with the min–max spread.
 */
import { useId, useMemo, useState } from 'react';
import { runColor } from '../lab-export';
import { type KeptRun, seedGroupKey, useLabStore } from '../lab-store';
import { useAppStore } from '../store';
import { type ChartSeries, RunChart, smooth } from './RunChart';

type Reading = { x: number; y: number };

/** Mean and min/max over runs at the steps every run has. */
export function meanAndSpread(curves: Reading[][]): { points: Reading[]; lower: number[]; upper: number[] } {
  const maps = curves.map((c) => new Map(c.map((p) => [p.x, p.y])));
  const xs = curves[0].map((p) => p.x).filter((x) => maps.every((m) => m.has(x)));
  const points: Reading[] = [];
  const lower: number[] = [];
  const upper: number[] = [];
  for (const x of xs) {
    const values = maps.map((m) => m.get(x) as number);
    points.push({ x, y: values.reduce((a, b) => a + b, 0) / values.length });
    lower.push(Math.min(...values));
    upper.push(Math.max(...values));
  }
  return { points, lower, upper };
}

function seriesFor(
  runs: KeptRun[],
  colorOf: (run: KeptRun) => string,
  readings: (run: KeptRun) => Reading[],
  options: { seedsAsMean: boolean; smoothing: number; dash?: boolean },
): ChartSeries[] {
  const out: ChartSeries[] = [];
  const groups = new Map<string, KeptRun[]>();
  for (const run of runs) {
    const key = options.seedsAsMean ? seedGroupKey(run.form) : run.id;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  for (const group of groups.values()) {
    const withData = group.filter((r) => readings(r).length > 0);
    if (group.length > 1 && withData.length > 1) {
      const { points, lower, upper } = meanAndSpread(withData.map(readings));
      const ys = smooth(
        points.map((p) => p.y),
        options.smoothing,
      );
      out.push({
        label: `${group.map((r) => r.label).join('+')} mean of ${withData.length} seeds`,
        color: colorOf(group[0]),
        points: points.map((p, i) => ({ x: p.x, y: ys[i] })),
        band: { lower, upper },
        dash: options.dash,
      });
      continue;
    }
    for (const run of group) {
      const points = readings(run);
      const ys = smooth(
        points.map((p) => p.y),
        options.smoothing,
      );
      out.push({
        label: `${run.label} ${run.form.preset} mask ${run.form.maskRatio} seed ${run.form.seed}`,
        color: colorOf(run),
        points: points.map((p, i) => ({ x: p.x, y: ys[i] })),
        dash: options.dash,
      });
    }
  }
  return out;
}

export function LabCharts() {
  const runs = useLabStore((s) => s.runs);
  const selected = useLabStore((s) => s.selected);
  const currentId = useAppStore((s) => s.run.runId);
  const currentPoints = useAppStore((s) => s.metrics.length);
  const [log, setLog] = useState(false);
  const [smoothing, setSmoothing] = useState(0);
  const [seedsAsMean, setSeedsAsMean] = useState(true);
  const ids = { log: useId(), smooth: useId(), seeds: useId() };
  const shown = useMemo(() => {
    const chosen = runs.filter((r) => selected.includes(r.id) && r.state !== 'queued');
    // With nothing selected, the current run is drawn.
    return chosen.length > 0 ? chosen : runs.filter((r) => r.id === currentId);
  }, [runs, selected, currentId]);
  const loss = useMemo(
    () =>
      seriesFor(
        shown,
        (run) => runColor(runs.indexOf(run)),
        (r) => r.metrics.map((m) => ({ x: m.step, y: m.loss })),
        { seedsAsMean, smoothing },
      ),
    [shown, seedsAsMean, smoothing, runs],
  );
  const heldOut = useMemo(
    () =>
      seriesFor(
        shown,
        (run) => runColor(runs.indexOf(run)),
        (r) => r.heldOut.map((h) => ({ x: h.step, y: h.loss })),
        { seedsAsMean, smoothing: 0, dash: true },
      ),
    [shown, seedsAsMean, runs],
  );
  return (
    <div className="lab-charts">
      <div className="chart-options">
        <label htmlFor={ids.log}>
          <input id={ids.log} type="checkbox" checked={log} onChange={(e) => setLog(e.target.checked)} /> log
          scale
        </label>
        <label htmlFor={ids.smooth}>
          smoothing{' '}
          <select id={ids.smooth} value={smoothing} onChange={(e) => setSmoothing(Number(e.target.value))}>
            <option value={0}>none</option>
            <option value={0.6}>0.6</option>
            <option value={0.9}>0.9</option>
          </select>
        </label>
        <label htmlFor={ids.seeds}>
          <input
            id={ids.seeds}
            type="checkbox"
            checked={seedsAsMean}
            onChange={(e) => setSeedsAsMean(e.target.checked)}
          />{' '}
          seeds as mean and spread
        </label>
      </div>
      <div className="charts">
        <RunChart
          series={loss}
          title="Training loss by step (each run in its own target and loss setting)"
          testId="loss-chart"
          points={currentPoints}
          log={log}
          yLabel="loss"
        />
        <RunChart
          series={heldOut}
          title="Held-out yardstick by step (masked, per-patch-normalised loss at ratio 0.6: comparable across runs)"
          testId="heldout-chart"
          points={shown.reduce((n, r) => n + r.heldOut.length, 0)}
          log={log}
          yLabel="held-out loss"
        />
      </div>
    </div>
  );
}
