import { useEffect, useRef } from 'react';
import type { RgbaPicture } from '../../data/grid';

/**
 * A canvas ref that shows `picture` at its own resolution (CSS magnifies it) and marks the canvas
 * `data-drawn` once it has been painted, which the e2e checks wait for.
 */
export function usePictureOnCanvas(picture: RgbaPicture) {
  const canvas = useRef<HTMLCanvasElement>(null);
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
  return canvas;
}

/** An RGBA picture on a canvas, magnified by CSS with square pixels; `label` is what a screen reader hears. */
export function PixelCanvas(props: {
  picture: RgbaPicture;
  label: string;
  testId?: string;
  className?: string;
  /** CSS pixels per picture pixel (else the stylesheet sizes it). */
  pixelScale?: number;
}) {
  const { picture } = props;
  const canvas = usePictureOnCanvas(picture);
  return (
    <canvas
      ref={canvas}
      className={`pixelated ${props.className ?? ''}`}
      role="img"
      aria-label={props.label}
      data-testid={props.testId}
      style={{
        aspectRatio: `${picture.width} / ${picture.height}`,
        ...(props.pixelScale ? { width: `${picture.width * props.pixelScale}px`, maxWidth: '100%' } : {}),
      }}
    />
  );
}
