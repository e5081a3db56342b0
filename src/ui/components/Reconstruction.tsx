import { useEffect, useMemo, useRef } from 'react';
import type { RgbaPicture } from '../../data/grid';
import { snapshotPictures } from '../pictures';
import { useAppStore } from '../store';

/** The colour of masked cells in the masked-input row (dark, distinct from any natural black). */
const MASK_COLOR = [52, 56, 72] as const;

export function PictureCanvas(props: { picture: RgbaPicture; testId: string; label: string; step?: number }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const { picture } = props;
  useEffect(() => {
    const element = canvas.current;
    const context = element?.getContext('2d');
    if (!element || !context) return;
    element.width = picture.width;
    element.height = picture.height;
    context.putImageData(
      new ImageData(picture.data as Uint8ClampedArray<ArrayBuffer>, picture.width, picture.height),
      0,
      0,
    );
    element.dataset.drawn = 'true';
  }, [picture]);
  return (
    <canvas
      ref={canvas}
      className="pixelated"
      role="img"
      aria-label={props.label}
      data-testid={props.testId}
      data-step={props.step}
    />
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
  const snapshot = useAppStore((s) => s.snapshot);
  const pictures = useMemo(() => (snapshot ? snapshotPictures(snapshot, MASK_COLOR) : undefined), [snapshot]);
  return (
    <section className="panel" aria-label="Reconstruction">
      <h2>
        Reconstruction
        {snapshot && <small> · step {snapshot.step}</small>}
      </h2>
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
        </div>
      )}
    </section>
  );
}
