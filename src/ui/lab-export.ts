/**
 * Export helpers of the lab: PNG bytes of a picture (the browser's encoder through a canvas), the loss
 * curves of several runs as a standalone SVG, and the colours runs are drawn in everywhere.
 */
import type { RgbaPicture } from '../data/grid';
import { extent, formatNumber, linePath } from './charts';
import type { KeptRun } from './lab-store';

/** Run colours (distinct in colour and lightness, readable on white). */
export const RUN_COLORS = [
  '#c2410c',
  '#1d4ed8',
  '#15803d',
  '#7e22ce',
  '#b45309',
  '#0f766e',
  '#be185d',
  '#4b5563',
];

export function runColor(index: number): string {
  return RUN_COLORS[index % RUN_COLORS.length];
}

export async function exportPng(picture: RgbaPicture): Promise<Uint8Array> {
  const canvas = document.createElement('canvas');
  canvas.width = picture.width;
  canvas.height = picture.height;
  const context = canvas.getContext('2d');
  if (!context) throw new Error('This browser cannot draw into a canvas, so no PNG can be made.');
  context.putImageData(
    new ImageData(new Uint8ClampedArray(picture.data), picture.width, picture.height),
    0,
    0,
  );
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) throw new Error('The browser could not encode the PNG.');
  return new Uint8Array(await blob.arrayBuffer());
}

function escapeXml(text: string): string {
  return text.replace(
    /[<>&"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] as string,
  );
}

/** Training loss (solid) and held-out yardstick (dashed) of each run, with a legend. */
export function lossSvg(runs: KeptRun[], width = 640, height = 360): string {
  const pad = { left: 56, right: 12, top: 12, bottom: 36 };
  const inner = { width: width - pad.left - pad.right, height: height - pad.top - pad.bottom };
  const xs = runs.flatMap((r) => [...r.metrics.map((m) => m.step), ...r.heldOut.map((h) => h.step)]);
  const ys = runs.flatMap((r) => [...r.metrics.map((m) => m.loss), ...r.heldOut.map((h) => h.loss)]);
  const xDomain = extent(xs);
  const yDomain = extent(ys);
  const paths = runs.map((r, i) => {
    const color = runColor(i);
    const train = linePath(
      r.metrics.map((m) => ({ x: m.step, y: m.loss })),
      xDomain,
      yDomain,
      inner,
    );
    const held = linePath(
      r.heldOut.map((h) => ({ x: h.step, y: h.loss })),
      xDomain,
      yDomain,
      inner,
    );
    return `<path d="${train}" fill="none" stroke="${color}" stroke-width="1.5"/><path d="${held}" fill="none" stroke="${color}" stroke-width="1.5" stroke-dasharray="5 3"/>`;
  });
  const legend = runs.map(
    (r, i) =>
      `<text x="${pad.left + 8}" y="${pad.top + 14 + i * 14}" fill="${runColor(i)}" font-size="11">${escapeXml(r.label)} ${escapeXml(r.form.preset)} mask ${r.form.maskRatio} seed ${r.form.seed}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<g transform="translate(${pad.left},${pad.top})">${paths.join('')}</g>`,
    `<text x="${pad.left}" y="${height - 8}" font-size="11">step ${formatNumber(xDomain[0])}–${formatNumber(xDomain[1])}; loss ${formatNumber(yDomain[0])}–${formatNumber(yDomain[1])}; solid: training loss, dashed: held-out (ratio 0.6)</text>`,
    ...legend,
    '</svg>',
  ].join('');
}

/** A self-contained SVG (no external images or fonts) drawn into a canvas and encoded as PNG. */
export async function svgToPng(svg: string, width: number, height: number): Promise<Uint8Array> {
  const url = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
  try {
    const image = new Image();
    image.src = url;
    await image.decode();
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext('2d');
    if (!context) throw new Error('This browser cannot draw into a canvas, so no PNG can be made.');
    context.drawImage(image, 0, 0, width, height);
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
    if (!blob) throw new Error('The browser could not encode the PNG.');
    return new Uint8Array(await blob.arrayBuffer());
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** Pictures one under the other on white, as wide as the widest (a view of several rows as one PNG). */
export function stackVertically(pictures: RgbaPicture[]): RgbaPicture {
  const width = Math.max(1, ...pictures.map((p) => p.width));
  const height = Math.max(
    1,
    pictures.reduce((sum, p) => sum + p.height, 0),
  );
  const data = new Uint8ClampedArray(width * height * 4).fill(255);
  let top = 0;
  for (const p of pictures) {
    for (let y = 0; y < p.height; y++)
      data.set(p.data.subarray(y * p.width * 4, (y + 1) * p.width * 4), (top + y) * width * 4);
    top += p.height;
  }
  return { width, height, data };
}
