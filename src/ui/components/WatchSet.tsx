/**
 * The watch set: a few held-out images with nested masks. The mask preview follows the slider at once (drawn
 * on the CPU, before any run); the compared runs are shown side by side on the same images and masks; one
 * image can be masked by hand, cell by cell, and reconstructed by the current weights.
 */
import { useMemo } from 'react';
import { imageGrid } from '../../data/grid';
import { gridSize } from '../../models/config';
import { nestedMasks } from '../../worker/nested-mask';
import { formatNumber } from '../charts';
import { useClient } from '../client-context';
import { LAB_MASK_COLOR, stackPictures, watchComposite, yardstickPlan } from '../lab-client';
import { runColor } from '../lab-export';
import { useLabStore } from '../lab-store';
import { checkForm, visibleCells } from '../run-config';
import { useAppStore } from '../store';
import { RECON_LABELS } from '../teach/recon-view';
import { useTeachStore } from '../teach/teach-store';
import { PictureCanvas } from './Reconstruction';

function MaskPreview() {
  const form = useAppStore((s) => s.form);
  const watch = useLabStore((s) => s.watchImages);
  const check = checkForm(form);
  const grid = check.ok ? gridSize(check.model) : undefined;
  const visible = visibleCells(form.preset, form.maskRatio);
  const picture = useMemo(() => {
    if (!grid || visible === undefined) return undefined;
    const count = watch?.count ?? 4;
    const size = watch && watch.size % grid === 0 ? watch.size : grid * 8;
    const mask = {
      data: nestedMasks(grid, form.maskRatio, count, watch?.offset ?? 0),
      height: grid,
      width: grid,
    };
    // Before the images arrive the mask is drawn on grey.
    const images = watch?.size === size ? watch.images : new Float32Array(count * 3 * size * size);
    return imageGrid([{ images, mask }], {
      size,
      columns: count,
      gap: 1,
      normalization: watch?.size === size ? watch.normalization : { mean: [0.5, 0.5, 0.5], std: [1, 1, 1] },
      maskColor: LAB_MASK_COLOR,
      background: [255, 255, 255],
    });
  }, [grid, visible, form.maskRatio, watch]);
  return (
    <figure>
      {picture ? (
        <PictureCanvas
          picture={picture}
          testId="mask-preview"
          label={`The watch set masked at ratio ${form.maskRatio}: ${visible} visible cells per image`}
          visibleCells={visible}
        />
      ) : (
        <p className="hint">No cell stays visible at this ratio.</p>
      )}
      <figcaption>
        <strong>Mask preview</strong> at ratio {form.maskRatio.toFixed(2)}: {visible ?? 0} of{' '}
        {grid ? grid * grid : '?'} cells visible per image. Masks are nested: each image has one fixed cell
        order, so a lower ratio shows a superset of a higher one.
      </figcaption>
    </figure>
  );
}

function Comparison() {
  const client = useClient();
  const runs = useLabStore((s) => s.runs);
  const selected = useLabStore((s) => s.selected);
  const currentId = useAppStore((s) => s.run.runId);
  const mode = useTeachStore((s) => s.reconMode);
  const chosen = runs.filter((r) => (selected.length > 0 ? selected.includes(r.id) : r.id === currentId));
  const withWatch = chosen.filter((r) => r.watch);
  if (withWatch.length === 0)
    return (
      <p className="hint">
        Runs are reconstructed on the watch set every few steps and when they pause or finish; ticked runs
        appear here side by side.
      </p>
    );
  return (
    <div className="watch-compare" data-testid="watch-compare" data-recon-mode={mode}>
      <p className="hint">
        Reconstructions in the {RECON_LABELS[mode]} view; the Reconstruction panel switches it (runs kept from
        an earlier visit show the official view).
      </p>
      {withWatch.map((run) => {
        const watch = run.watch;
        if (!watch) return null;
        return (
          <div
            key={run.id}
            className="watch-run"
            data-testid="watch-run"
            data-run-id={run.id}
            data-step={watch.step}
            data-visible-cells={watch.visibleCells}
            data-mask={watch.mask.join('')}
          >
            <p>
              <span
                className="swatch"
                style={{ background: runColor(runs.indexOf(run)) }}
                aria-hidden="true"
              />
              <strong>{run.label}</strong> at step {watch.step}, mask {watch.ratio} ({watch.visibleCells}{' '}
              visible cells)
            </p>
            <PictureCanvas
              picture={watch.masked}
              testId="watch-masked"
              label={`Run ${run.label}: watch set masked at ${watch.ratio}`}
              step={watch.step}
            />
            <PictureCanvas
              picture={watchComposite(watch, mode)}
              testId="watch-recon"
              label={`Run ${run.label}: reconstruction of the watch set at step ${watch.step}`}
              step={watch.step}
            />
            {run.watchHistory && run.watchHistory.length > 0 && (
              <details className="watch-history">
                <summary>
                  Earlier reconstructions ({run.watchHistory.map((h) => `step ${h.step}`).join(', ')})
                </summary>
                {run.watchHistory.map((h) => (
                  <figure key={h.step}>
                    <PictureCanvas
                      picture={watchComposite(h, mode)}
                      testId="watch-history"
                      label={`Run ${run.label}: reconstruction of the watch set at step ${h.step}`}
                      step={h.step}
                    />
                    <figcaption>step {h.step}</figcaption>
                  </figure>
                ))}
              </details>
            )}
          </div>
        );
      })}
      <button
        type="button"
        data-testid="download-watch"
        onClick={() =>
          void client.lab.downloadPicture(stackPictures(withWatch, mode), 'sparklab-watch-set.png')
        }
      >
        Download PNG
      </button>
    </div>
  );
}

function MaskEditor() {
  const client = useClient();
  const custom = useLabStore((s) => s.custom);
  const mode = useTeachStore((s) => s.reconMode);
  const watch = useLabStore((s) => s.watchImages);
  const hasRun = useAppStore((s) => s.run.runId !== undefined);
  if (!custom) return null;
  const images = watch ? Array.from({ length: watch.count }, (_, i) => watch.offset + i) : [custom.image];
  const visible = custom.cells.reduce((a, b) => a + b, 0);
  const rows = Array.from({ length: custom.grid }, (_, r) => r);
  return (
    <div className="mask-editor" data-testid="mask-editor">
      <h3>Your own mask</h3>
      <p className="hint">
        Click a cell (or focus it and press Space) to hide or show it: anything from one visible cell to all
        of them. The current weights reconstruct exactly this mask.
      </p>
      <fieldset className="buttons plain-fieldset">
        <legend className="visually-hidden">Watch-set image to mask</legend>
        {images.map((index, i) => (
          <button
            key={index}
            type="button"
            aria-pressed={index === custom.image}
            data-testid={`mask-editor-image-${i}`}
            onClick={() => client.lab.resetCustom(index)}
          >
            Image {i + 1}
          </button>
        ))}
      </fieldset>
      <div className="editor-row">
        <fieldset className="cell-grid" style={{ gridTemplateColumns: `repeat(${custom.grid}, 44px)` }}>
          <legend className="visually-hidden">Mask cells, {visible} visible</legend>
          {rows.flatMap((r) =>
            rows.map((c) => {
              const hidden = custom.cells[r * custom.grid + c] === 0;
              return (
                <button
                  key={`${r}-${c}`}
                  type="button"
                  className={hidden ? 'cell hidden-cell' : 'cell'}
                  aria-pressed={hidden}
                  aria-label={`Row ${r + 1}, column ${c + 1}: ${hidden ? 'hidden' : 'visible'}`}
                  data-testid={`mask-cell-${r}-${c}`}
                  onClick={() => client.lab.toggleCell(r, c)}
                />
              );
            }),
          )}
        </fieldset>
        {custom.result ? (
          <>
            <PictureCanvas
              picture={custom.result.masked}
              testId="custom-masked"
              label="The hand-edited mask"
            />
            <PictureCanvas
              picture={
                mode === 'no-leak' && custom.result.noLeak ? custom.result.noLeak : custom.result.composite
              }
              testId="recon-custom"
              label={`Reconstruction of the hand-edited mask (${custom.result.visibleCells} visible cells) at step ${custom.result.step}`}
              visibleCells={custom.result.visibleCells}
              step={custom.result.step}
            />
          </>
        ) : (
          <p className="hint">
            {hasRun ? 'Reconstructing…' : 'Start or Step a run to see its reconstruction.'}
          </p>
        )}
      </div>
      <p className="hint" aria-live="polite">
        {visible} visible cell{visible === 1 ? '' : 's'}
        {visible === 1 ? ' (the last one stays: the encoder needs something to see)' : ''}
        {custom.pending ? ' · reconstructing…' : ''}
      </p>
    </div>
  );
}

export function WatchSetPanel() {
  const client = useClient();
  const watch = useLabStore((s) => s.watchImages);
  const software = useAppStore((s) => s.gpu.state === 'ready' && s.gpu.summary.isSoftware);
  const currentId = useAppStore((s) => s.run.runId);
  const heldOut = useLabStore((s) => s.runs.find((r) => r.id === currentId)?.heldOut);
  const plan = yardstickPlan(software);
  const last = heldOut?.[heldOut.length - 1];
  return (
    <section className="panel watch-set" aria-label="Watch set">
      <h2>Watch set</h2>
      <p className="hint">
        {watch
          ? `Held-out images ${watch.offset + 1}–${watch.offset + watch.count} of ${watch.heldOutCount}, never trained on.`
          : 'A few held-out images, never trained on.'}{' '}
        <button type="button" data-testid="watch-other" onClick={() => client.lab.otherWatchImages()}>
          Other images
        </button>
      </p>
      <MaskPreview />
      <p>
        Held-out yardstick (masked, per-patch-normalised loss at ratio 0.6 on {plan.images} held-out images,
        every {plan.every} steps and when a run pauses or finishes):{' '}
        <strong data-testid="heldout-loss">{last ? formatNumber(last.loss) : 'not yet evaluated'}</strong>
        {last ? ` at step ${last.step}` : ''}
      </p>
      <Comparison />
      <MaskEditor />
    </section>
  );
}
