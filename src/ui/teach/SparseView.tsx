/**
 * Figure 2 live: what a dense zero-masking encoder receives next to what SparK's sparse encoder receives (only
 * the visible cells, compacted), the active sites at every encoder scale, and what that saves.
 */
import { useMemo, useState } from 'react';
import { formatNumber } from '../charts';
import { useAppStore } from '../store';
import { activeRowsPerScale, encoderCost } from './lesson-math';
import { PanelHelp } from './PanelHelp';
import { PixelCanvas } from './PixelCanvas';
import { compactedPicture, imagePicture, mapPicture } from './pictures';
import { useLessonFigure } from './use-lesson';

function bytes(n: number): string {
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${(n / 2 ** 10).toFixed(0)} KiB`;
}

function flops(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GFLOP`;
  return `${(n / 1e6).toFixed(2)} MFLOP`;
}

function Bar(props: { label: string; value: number; max: number; text: string; kind: 'dense' | 'sparse' }) {
  const share = props.max > 0 ? Math.min(1, props.value / props.max) : 0;
  return (
    <div className="cost-bar">
      <span className="cost-label">{props.label}</span>
      <span className="cost-track" aria-hidden="true">
        <span className={`cost-fill ${props.kind}`} style={{ width: `${(100 * share).toFixed(1)}%` }} />
      </span>
      <span className="cost-value">{props.text}</span>
    </div>
  );
}

/** Encoder cost dense vs sparse at this ratio (from the layer shapes) and the run's measured step phases. */
export function CostMeter() {
  const figure = useLessonFigure();
  const batch = useAppStore((s) => s.form.batchSize);
  const last = useAppStore((s) => s.metrics[s.metrics.length - 1]);
  const software = useAppStore((s) => s.gpu.state === 'ready' && s.gpu.summary.isSoftware);
  const cost = useMemo(() => {
    if (!figure || figure.visibleCells === undefined) return undefined;
    return encoderCost(figure.model, figure.ratio, Number.isInteger(batch) && batch > 0 ? batch : 1);
  }, [figure, batch]);
  if (!figure || !cost) return null;
  const phases = last?.phaseMs;
  return (
    <figure className="cost-meter" data-testid="cost-meter" data-encoder-ratio={cost.ratio.toFixed(4)}>
      <figcaption>
        <strong>Encoder cost at mask ratio {figure.ratio.toFixed(2)}</strong> — the sparse encoder does{' '}
        {(100 * cost.ratio).toFixed(0)} % of the dense encoder’s work (counted from the layer shapes; the
        decoder always runs densely and is not included).
      </figcaption>
      <Bar
        label="FLOPs per image, dense"
        value={cost.flopsDense}
        max={cost.flopsDense}
        text={flops(cost.flopsDense)}
        kind="dense"
      />
      <Bar
        label="FLOPs per image, sparse"
        value={cost.flopsSparse}
        max={cost.flopsDense}
        text={flops(cost.flopsSparse)}
        kind="sparse"
      />
      <Bar
        label={`Activations, batch of ${batch}, dense`}
        value={cost.activationDenseBytes}
        max={cost.activationDenseBytes}
        text={bytes(cost.activationDenseBytes)}
        kind="dense"
      />
      <Bar
        label={`Activations, batch of ${batch}, sparse`}
        value={cost.activationSparseBytes}
        max={cost.activationDenseBytes}
        text={bytes(cost.activationSparseBytes)}
        kind="sparse"
      />
      <p className="hint" data-testid="cost-measured">
        {!last
          ? 'Measured times appear once a run has taken a step.'
          : phases?.forward !== undefined && phases.backward !== undefined
            ? `This run, last measured step: forward ${formatNumber(phases.forward)} ms, backward ${formatNumber(phases.backward)} ms (GPU timestamps)`
            : `This run, last measured step: ${formatNumber(last.stepMs)} ms in all (this adapter gives no per-phase timestamps)`}
        {last && software ? ' — a software adapter: do not read speed from it.' : last ? '.' : ''}
      </p>
    </figure>
  );
}

export function SparseViewPanel() {
  const figure = useLessonFigure();
  const [index, setIndex] = useState(0);
  const view = useMemo(() => {
    if (!figure?.sample || !figure.masks || figure.visibleCells === undefined) return undefined;
    const { sample, masks, grid, model } = figure;
    const i = Math.min(index, sample.images - 1);
    const cells = masks.subarray(i * grid * grid, (i + 1) * grid * grid);
    return {
      i,
      cells,
      // Both pictures at the same magnification, so a cell is the same size in each.
      scale: Math.max(1, Math.floor(192 / sample.size)),
      zeroFilled: imagePicture(sample.pixels, i, sample.size, sample.normalization, {
        cells,
        grid,
        fill: 'zero',
      }),
      compacted: compactedPicture(sample.pixels, i, sample.size, sample.normalization, cells, grid),
      scales: activeRowsPerScale(model, figure.visibleCells).map((scale) => ({
        ...scale,
        picture: mapPicture(cells, grid, scale.cellSide),
      })),
    };
  }, [figure, index]);
  return (
    <section className="panel" aria-labelledby="sparse-view-title">
      <h2 id="sparse-view-title">What each encoder receives (paper Figure 2, live)</h2>
      <PanelHelp id="sparse" />
      {!figure || !view ? (
        <p className="hint" data-testid="sparse-view-waiting">
          {figure?.problem ?? 'Choose a model preset to see its encoder.'}
        </p>
      ) : (
        <div
          className="sparse-view"
          data-testid="sparse-view"
          data-visible-cells={figure.visibleCells}
          data-grid={figure.grid}
        >
          <div className="sparse-pair">
            <figure>
              <PixelCanvas
                picture={view.zeroFilled}
                label={`Held-out image ${view.i + 1} with masked cells filled with zero`}
                testId="sparse-view-dense-input"
                pixelScale={view.scale}
              />
              <figcaption>
                <strong>Dense encoder (zero-masking)</strong> receives all {figure.grid * figure.grid} cells;
                the hidden ones set to 0 after normalisation, i.e. the mean colour.
              </figcaption>
            </figure>
            <figure>
              <PixelCanvas
                picture={view.compacted}
                label={`The ${figure.visibleCells} visible cells of image ${view.i + 1}, compacted`}
                testId="sparse-view-compacted"
                pixelScale={view.scale}
              />
              <figcaption>
                <strong>Sparse encoder (SparK)</strong> receives only the {figure.visibleCells} visible cells,
                stored one after another as rows of active sites; masked cells do not exist for it.
              </figcaption>
            </figure>
          </div>
          <label className="inline-label">
            <span>Example image</span>
            <select value={view.i} onChange={(e) => setIndex(Number(e.target.value))}>
              {Array.from({ length: figure.sample?.images ?? 0 }, (_, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: a fixed list of image slots
                <option key={i} value={i}>
                  held-out image {i + 1}
                </option>
              ))}
            </select>
          </label>
          <table className="scale-table">
            <caption>Active sites at every encoder scale, this image</caption>
            <thead>
              <tr>
                <th scope="col">stride</th>
                <th scope="col">map</th>
                <th scope="col">active sites (sparse)</th>
                <th scope="col">positions (dense)</th>
              </tr>
            </thead>
            <tbody>
              {view.scales.map((scale) => (
                <tr
                  key={scale.stride}
                  data-testid={`sparse-view-scale-${scale.stride}`}
                  data-rows={scale.rows}
                >
                  <td>{scale.stride}</td>
                  <td>
                    <PixelCanvas
                      picture={scale.picture}
                      className="scale-map"
                      label={`Active sites at stride ${scale.stride}: ${scale.rows} of ${scale.denseRows}`}
                    />
                    <small>
                      {scale.side}×{scale.side}
                    </small>
                  </td>
                  <td>
                    {scale.rows.toLocaleString()}{' '}
                    <small>
                      = {figure.visibleCells} cells × {scale.cellSide}²
                    </small>
                  </td>
                  <td>{scale.denseRows.toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <CostMeter />
        </div>
      )}
    </section>
  );
}
