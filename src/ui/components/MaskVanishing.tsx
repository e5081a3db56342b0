import { useEffect, useState } from 'react';
import type { RgbaPicture } from '../../data/grid';
import {
  FIGURE_TITLES,
  maskVanishing,
  patternFromRgba,
  VANISHING_FIGURES,
  type VanishingFigure,
  type VanishingStage,
} from '../figures';
import { PictureCanvas } from './Reconstruction';

const MASKED_RGB = [52, 56, 72] as const;
const VISIBLE_RGB = [250, 246, 235] as const;

async function loadPattern(name: VanishingFigure) {
  const response = await fetch(`${import.meta.env.BASE_URL}figures/${name}.png`);
  if (!response.ok) throw new Error(`The figure ${name}.png could not be loaded (HTTP ${response.status}).`);
  const bitmap = await createImageBitmap(await response.blob(), {
    colorSpaceConversion: 'none',
    premultiplyAlpha: 'none',
  });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d');
  if (!context) throw new Error('This browser has no 2-D canvas to read the figure with.');
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
  return patternFromRgba(data, canvas.width, canvas.height);
}

function stagePicture(stage: VanishingStage, size: number): RgbaPicture {
  const data = new Uint8ClampedArray(size * size * 4);
  for (let i = 0; i < size * size; i++) {
    data.set(stage.active[i] ? VISIBLE_RGB : MASKED_RGB, i * 4);
    data[i * 4 + 3] = 255;
  }
  return { width: size, height: size, data };
}

type Loaded = { name: VanishingFigure; size: number; stages: VanishingStage[] };

export function MaskVanishingPanel() {
  const [figures, setFigures] = useState<Loaded[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let live = true;
    Promise.all(
      VANISHING_FIGURES.map(async (name) => {
        const pattern = await loadPattern(name);
        return { name, size: pattern.size, stages: maskVanishing(pattern, 2) };
      }),
    ).then(
      (loaded) => live && setFigures(loaded),
      (e: unknown) => live && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      live = false;
    };
  }, []);
  return (
    <section className="panel" aria-label="Mask pattern vanishing" data-testid="mask-vanishing">
      <h2>Why SparK uses sparse convolutions: the mask pattern vanishes</h2>
      <p className="hint">
        Three 28×28 masks from the SparK paper (Figure 3), dark = masked. A dense 3×3 convolution lets every
        visible pixel spill into its masked neighbours, so after one or two layers the holes are filled and
        the network can no longer tell what was masked. A sparse (submanifold) convolution computes only at
        visible pixels, so the pattern survives any depth. Computed here in float64 with the engine’s CPU
        reference convolutions (one channel, weights 1/9, zero padding; a pixel is visible when its output is
        &gt; 0).
      </p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {figures && (
        <div className="vanishing">
          {figures.map(({ name, size, stages }) => (
            <div key={name} className="vanishing-row" data-testid={`vanish-${name}`}>
              <h3>{FIGURE_TITLES[name]}</h3>
              {stages.map((stage, i) => (
                <figure key={stage.label}>
                  <PictureCanvas
                    picture={stagePicture(stage, size)}
                    testId={`vanish-${name}-canvas-${i}`}
                    label={`${FIGURE_TITLES[name]}: ${stage.label}, ${stage.masked} masked pixels`}
                  />
                  <figcaption>
                    {stage.label}
                    <br />
                    <span data-testid={`vanish-${name}-${i}`} data-masked={stage.masked}>
                      {stage.masked} masked
                    </span>
                  </figcaption>
                </figure>
              ))}
            </div>
          ))}
        </div>
      )}
    </section>
  );
}
