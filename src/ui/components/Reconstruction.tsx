import { useMemo } from 'react';
import type { RgbaPicture } from '../../data/grid';
import type { ActiveMap } from '../../worker/protocol';
import { useClient } from '../client-context';
import { stackVertically } from '../lab-export';
import { snapshotPictures } from '../pictures';
import { useAppStore } from '../store';
import { usePictureOnCanvas } from '../teach/PixelCanvas';
import { ReconModeSelect, useReconComposite } from '../teach/recon-view';

/** The colour of masked cells in the masked-input row (dark, distinct from any natural black). */
const MASK_COLOR = [52, 56, 72] as const;

export function PictureCanvas(props: {
  picture: RgbaPicture;
  testId: string;
  label: string;
  step?: number;
  visibleCells?: number;
}) {
  const { picture } = props;
  const canvas = usePictureOnCanvas(picture);
  return (
    <canvas
      ref={canvas}
      className="pixelated"
      role="img"
      aria-label={props.label}
      data-testid={props.testId}
      data-step={props.step}
      data-visible-cells={props.visibleCells}
    />
  );
}

const ACTIVE_RGB = [250, 246, 235] as const;

/** Image `index` of a per-scale active map as a picture: visible sites light, masked ones in the mask colour. */
export function activeMapPicture(map: ActiveMap, index: number): RgbaPicture {
  const cells = map.height * map.width;
  const data = new Uint8ClampedArray(cells * 4);
  for (let i = 0; i < cells; i++) {
    data.set(map.data[index * cells + i] ? ACTIVE_RGB : MASK_COLOR, i * 4);
    data[i * 4 + 3] = 255;
  }
  return { width: map.width, height: map.height, data };
}

function ActiveMaps(props: { maps: ActiveMap[]; step: number }) {
  const pictures = useMemo(() => props.maps.map((m) => activeMapPicture(m, 0)), [props.maps]);
  if (props.maps.length === 0) return null;
  return (
    <figure>
      <div className="active-maps">
        {props.maps.map((map, i) => (
          <div key={map.stride}>
            <PictureCanvas
              picture={pictures[i]}
              testId={`active-map-${map.stride}`}
              label={`Active sites at stride ${map.stride}, step ${props.step}`}
              step={props.step}
            />
            <small>
              stride {map.stride} · {map.height}×{map.width}
            </small>
          </div>
        ))}
      </div>
      <figcaption>
        <strong>Active sites per encoder scale</strong> (first image) — the sparse encoder computes only at
        these positions; the pattern keeps its shape at every depth.
      </figcaption>
    </figure>
  );
}

const ROWS = [
  ['input', 'Input', 'the images as the model receives them'],
  ['masked', 'Masked input', 'masked cells in dark blue; only the visible cells reach the sparse encoder'],
  ['composite', 'Reconstruction', 'visible pixels from the input, masked ones from the prediction'],
  [
    'prediction',
    'Raw prediction',
    'decoder output in the loss’s per-patch normalised units, stretched to black..white',
  ],
] as const;

export function ReconstructionPanel() {
  const client = useClient();
  const snapshot = useAppStore((s) => s.snapshot);
  // The composite in the reconstruction view the user chose (official or no-leak).
  const composite = useReconComposite(snapshot);
  const pictures = useMemo(
    () => (snapshot && composite ? snapshotPictures({ ...snapshot, composite }, MASK_COLOR) : undefined),
    [snapshot, composite],
  );
  return (
    <section className="panel" aria-label="Reconstruction">
      <h2>
        Reconstruction
        {snapshot && <small> · step {snapshot.step}</small>}
      </h2>
      <ReconModeSelect />
      {!snapshot || !pictures ? (
        <p className="hint">The model’s view of a few training images appears here once a run has started.</p>
      ) : (
        <div className="recon-rows">
          {ROWS.map(([key, title, explanation]) => (
            <figure key={key}>
              <PictureCanvas
                picture={pictures[key]}
                testId={`recon-${key}`}
                label={`${title} at step ${snapshot.step}`}
                step={snapshot.step}
              />
              <figcaption>
                <strong>{title}</strong> — {explanation}
              </figcaption>
            </figure>
          ))}
          <ActiveMaps maps={snapshot.activeMaps} step={snapshot.step} />
          <button
            type="button"
            data-testid="download-recon"
            onClick={() =>
              void client.lab.downloadPicture(
                stackVertically([pictures.input, pictures.masked, pictures.composite]),
                `sparklab-reconstruction-step${snapshot.step}.png`,
              )
            }
          >
            Download PNG
          </button>
        </div>
      )}
    </section>
  );
}
