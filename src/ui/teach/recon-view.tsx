/**
 * Which reconstruction is shown, everywhere one appears. "official": masked patches de-normalised with their
 * own true mean and spread, as SparK's visualisation does (it uses what was hidden); "no-leak": de-normalised
 * with the statistics of the visible neighbourhood only, so the picture shows what the model itself knows.
 */
import { useId, useMemo } from 'react';
import type { Snapshot } from '../../worker/protocol';
import { useAppStore } from '../store';
import { noLeakComposite } from './lesson-math';
import { RECON_MODES, type ReconMode, useTeachStore } from './teach-store';

export const RECON_LABELS: Record<ReconMode, string> = {
  official: 'official (as in the paper)',
  'no-leak': 'no-leak (visible pixels only)',
};

export const RECON_CAPTIONS: Record<ReconMode, string> = {
  official:
    'Hidden patches are painted with the prediction scaled by each patch’s own true mean and spread — information the model never saw. This is how the SparK paper and its notebook draw reconstructions; it flatters the model.',
  'no-leak':
    'Hidden patches are painted with the prediction scaled by the mean and spread of the visible cells around them (or of the whole visible image): only what the model was given is used.',
};

/** The composite (NCHW, normalised units) for the chosen view. */
export function compositeFor(
  snapshot: Snapshot,
  mode: ReconMode,
  patchNormalizedTarget: boolean,
): Float32Array {
  if (mode === 'official') return snapshot.composite;
  return noLeakComposite({
    input: snapshot.input,
    prediction: snapshot.prediction,
    mask: snapshot.mask.data,
    images: snapshot.images,
    size: snapshot.size,
    grid: snapshot.mask.height,
    patchNormalizedTarget,
  });
}

/** The current snapshot's composite in the chosen view (what the panel and the exports should draw). */
export function useReconComposite(snapshot: Snapshot | undefined): Float32Array | undefined {
  const mode = useTeachStore((s) => s.reconMode);
  const target = useAppStore((s) => s.run.model?.lossTarget ?? 'patch-norm');
  return useMemo(
    () => (snapshot ? compositeFor(snapshot, mode, target === 'patch-norm') : undefined),
    [snapshot, mode, target],
  );
}

export function ReconModeSelect() {
  const mode = useTeachStore((s) => s.reconMode);
  const setMode = useTeachStore((s) => s.setReconMode);
  const id = useId();
  return (
    <div className="recon-mode">
      <label htmlFor={id}>
        <span>Reconstruction view</span>
        <select
          id={id}
          data-testid="recon-mode"
          value={mode}
          onChange={(e) => setMode(e.target.value as ReconMode)}
        >
          {RECON_MODES.map((m) => (
            <option key={m} value={m}>
              {RECON_LABELS[m]}
            </option>
          ))}
        </select>
      </label>
      <p className="hint" data-testid="recon-mode-caption">
        {RECON_CAPTIONS[mode]}
      </p>
    </div>
  );
}
