/**
 * Figure 3, interactive: the user draws a mask (pointer or keyboard), picks a depth, and sees dense erosion
 * next to sparse preservation with masked-pixel counts, computed by the engine's conv on the GPU when there
 * is one and by its float64 twin otherwise (the panel says which).
 */
import { type KeyboardEvent, type PointerEvent, useEffect, useId, useRef, useState } from 'react';
import {
  type ActivePattern,
  countMasked,
  FIGURE_TITLES,
  patternFromRgba,
  VANISHING_FIGURES,
} from '../figures';
import { useAppStore } from '../store';
import { PanelHelp } from './PanelHelp';
import { PixelCanvas } from './PixelCanvas';
import { MASK_RGB, mapPicture, VISIBLE_RGB } from './pictures';
import { MAX_DEPTH, type VanishResult, vanish } from './vanish';

const EDITOR_SIDE = 16;
const DEPTHS = Array.from({ length: MAX_DEPTH }, (_, i) => i + 1);

/** A SparK-like start: 4×4-pixel cells, about 60 % of them masked, in a fixed pattern. */
function blocksPattern(): ActivePattern {
  const size = EDITOR_SIDE;
  const hidden = new Set([0, 2, 3, 5, 6, 8, 11, 12, 13, 15]);
  const active = new Uint8Array(size * size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      active[y * size + x] = hidden.has(Math.floor(y / 4) * 4 + Math.floor(x / 4)) ? 0 : 1;
  return { size, active };
}

async function officialPattern(name: string): Promise<ActivePattern> {
  const response = await fetch(`${import.meta.env.BASE_URL}figures/${name}.png`);
  if (!response.ok) throw new Error(`The figure ${name}.png could not be loaded (HTTP ${response.status}).`);
  const bitmap = await createImageBitmap(await response.blob(), { colorSpaceConversion: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d');
  if (!context) throw new Error('This browser has no 2-D canvas to read the figure with.');
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return patternFromRgba(
    context.getImageData(0, 0, canvas.width, canvas.height).data,
    canvas.width,
    canvas.height,
  );
}

function Editor(props: { pattern: ActivePattern; onChange: (active: Uint8Array) => void }) {
  const { size, active } = props.pattern;
  const canvas = useRef<HTMLCanvasElement>(null);
  const [cursor, setCursor] = useState({ y: 0, x: 0 });
  const [focused, setFocused] = useState(false);
  const paint = useRef<number | null>(null);
  const statusId = useId();
  useEffect(() => {
    const element = canvas.current;
    const context = element?.getContext('2d');
    if (!element || !context) return;
    const scale = Math.max(1, Math.floor(320 / size));
    element.width = size * scale;
    element.height = size * scale;
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const rgb = active[y * size + x] ? VISIBLE_RGB : MASK_RGB;
        context.fillStyle = `rgb(${rgb.join(' ')})`;
        context.fillRect(x * scale, y * scale, scale, scale);
      }
    context.strokeStyle = 'rgb(120 120 120 / 0.35)';
    context.lineWidth = 1;
    for (let i = 1; i < size; i++) {
      context.beginPath();
      context.moveTo(i * scale + 0.5, 0);
      context.lineTo(i * scale + 0.5, size * scale);
      context.moveTo(0, i * scale + 0.5);
      context.lineTo(size * scale, i * scale + 0.5);
      context.stroke();
    }
    if (focused) {
      context.strokeStyle = '#e8590c';
      context.lineWidth = 3;
      context.strokeRect(cursor.x * scale + 1.5, cursor.y * scale + 1.5, scale - 3, scale - 3);
    }
    element.dataset.drawn = 'true';
  }, [active, size, cursor, focused]);

  const set = (y: number, x: number, value: number) => {
    if (active[y * size + x] === value) return;
    const next = Uint8Array.from(active);
    next[y * size + x] = value;
    props.onChange(next);
  };
  const cellAt = (e: PointerEvent<HTMLCanvasElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    const x = Math.min(size - 1, Math.max(0, Math.floor(((e.clientX - rect.left) / rect.width) * size)));
    const y = Math.min(size - 1, Math.max(0, Math.floor(((e.clientY - rect.top) / rect.height) * size)));
    return { y, x };
  };
  const onPointerDown = (e: PointerEvent<HTMLCanvasElement>) => {
    const { y, x } = cellAt(e);
    paint.current = active[y * size + x] ? 0 : 1;
    e.currentTarget.setPointerCapture(e.pointerId);
    setCursor({ y, x });
    set(y, x, paint.current);
  };
  const onPointerMove = (e: PointerEvent<HTMLCanvasElement>) => {
    if (paint.current === null) return;
    const { y, x } = cellAt(e);
    set(y, x, paint.current);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLCanvasElement>) => {
    const moves: Record<string, [number, number]> = {
      ArrowUp: [-1, 0],
      ArrowDown: [1, 0],
      ArrowLeft: [0, -1],
      ArrowRight: [0, 1],
    };
    const move = moves[e.key];
    if (move) {
      e.preventDefault();
      setCursor((c) => ({
        y: Math.min(size - 1, Math.max(0, c.y + move[0])),
        x: Math.min(size - 1, Math.max(0, c.x + move[1])),
      }));
    } else if (e.key === ' ' || e.key === 'Enter') {
      e.preventDefault();
      set(cursor.y, cursor.x, active[cursor.y * size + cursor.x] ? 0 : 1);
    }
  };
  const here = active[cursor.y * size + cursor.x] ? 'visible' : 'masked';
  return (
    <div className="vanish-editor-wrap">
      {/* biome-ignore lint/a11y/noInteractiveElementToNoninteractiveRole: a drawing surface with its own keys is an application region */}
      <canvas
        ref={canvas}
        className="pixelated vanish-editor"
        data-testid="vanish-editor"
        data-masked={countMasked(active)}
        tabIndex={0}
        role="application"
        aria-label={`Mask drawing grid, ${size} by ${size} pixels. Arrow keys move, Space or Enter hides or shows the pixel.`}
        aria-describedby={statusId}
        onKeyDown={onKeyDown}
        onFocus={() => setFocused(true)}
        onBlur={() => setFocused(false)}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={() => {
          paint.current = null;
        }}
      />
      <p id={statusId} className="hint" aria-live="polite">
        Pixel row {cursor.y + 1}, column {cursor.x + 1}: {here}. {countMasked(active)} of {size * size}{' '}
        masked.
      </p>
    </div>
  );
}

export function VanishLabPanel() {
  const [pattern, setPattern] = useState<ActivePattern>(blocksPattern);
  const [depth, setDepth] = useState(2);
  const [result, setResult] = useState<{ result: VanishResult; pattern: ActivePattern }>();
  const [error, setError] = useState<string>();
  const runMask = useAppStore((s) => s.snapshot?.mask);
  const ids = { source: useId(), depth: useId() };
  useEffect(() => {
    let live = true;
    const timer = setTimeout(() => {
      vanish(pattern, depth).then(
        (r) => {
          if (live) {
            setResult({ result: r, pattern });
            setError(undefined);
          }
        },
        (e: unknown) => live && setError(e instanceof Error ? e.message : String(e)),
      );
    }, 60);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [pattern, depth]);
  const choose = (value: string) => {
    if (value === 'blocks') setPattern(blocksPattern());
    else if (value === 'clear')
      setPattern({ size: EDITOR_SIDE, active: new Uint8Array(EDITOR_SIDE ** 2).fill(1) });
    else if (value === 'run' && runMask) {
      // The run's first image: each mask cell drawn as a block of pixels.
      const g = runMask.height;
      const side = Math.max(1, Math.floor(EDITOR_SIDE / g));
      const size = g * side;
      const active = new Uint8Array(size * size);
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++)
          active[y * size + x] = runMask.data[Math.floor(y / side) * g + Math.floor(x / side)];
      setPattern({ size, active });
    } else if ((VANISHING_FIGURES as readonly string[]).includes(value))
      officialPattern(value).then(setPattern, (e: unknown) => setError(String(e)));
  };
  const shown = result?.result;
  const inputMasked = countMasked(pattern.active);
  return (
    <section
      className="panel"
      aria-labelledby="vanish-lab-title"
      data-testid="vanish-lab"
      data-backend={shown?.backend}
    >
      <h2 id="vanish-lab-title">Draw a mask: does it survive the convolutions? (paper Figure 3)</h2>
      <PanelHelp id="vanish-lab" />
      <div className="vanish-lab">
        <div>
          <div className="row2">
            <label htmlFor={ids.source}>
              <span>Start from</span>
              <select
                id={ids.source}
                data-testid="vanish-source"
                defaultValue="blocks"
                onChange={(e) => choose(e.target.value)}
              >
                <option value="blocks">SparK-like blocks (16×16)</option>
                <option value="clear">All visible (16×16)</option>
                {VANISHING_FIGURES.map((name) => (
                  <option key={name} value={name}>
                    paper’s {FIGURE_TITLES[name]} (28×28)
                  </option>
                ))}
                <option value="run" disabled={!runMask}>
                  the current run’s mask{runMask ? '' : ' (start a run first)'}
                </option>
              </select>
            </label>
            <label htmlFor={ids.depth}>
              <span>Depth</span>
              <select
                id={ids.depth}
                data-testid="vanish-depth"
                value={depth}
                onChange={(e) => setDepth(Number(e.target.value))}
              >
                {DEPTHS.map((d) => (
                  <option key={d} value={d}>
                    {d} convolution{d === 1 ? '' : 's'}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <Editor pattern={pattern} onChange={(active) => setPattern({ size: pattern.size, active })} />
        </div>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        {shown && result && (
          <div className="vanish-columns" aria-live="polite">
            {shown.dense
              .map((map, i) => ({ depth: i + 1, map }))
              .map(({ depth: d, map }) => (
                <figure key={`dense-${d}`}>
                  <PixelCanvas
                    picture={mapPicture(map, result.pattern.size)}
                    label={`After ${d} dense convolution${d === 1 ? '' : 's'}: ${countMasked(map)} masked pixels`}
                  />
                  <figcaption>
                    {d} dense
                    <br />
                    <span data-testid={`vanish-custom-dense-${d}`} data-masked={countMasked(map)}>
                      {countMasked(map)} masked
                    </span>
                  </figcaption>
                </figure>
              ))}
            <figure>
              <PixelCanvas
                picture={mapPicture(shown.sparse, result.pattern.size)}
                label={`After ${shown.dense.length} sparse convolutions: ${countMasked(shown.sparse)} masked pixels`}
              />
              <figcaption>
                {shown.dense.length} sparse
                <br />
                <span data-testid="vanish-custom-sparse" data-masked={countMasked(shown.sparse)}>
                  {countMasked(shown.sparse)} masked
                </span>
              </figcaption>
            </figure>
          </div>
        )}
      </div>
      <p className="hint">
        Your mask has {inputMasked} masked pixels.{' '}
        {shown
          ? shown.backend === 'gpu'
            ? 'Computed on this GPU with SparkLab’s own sparse-convolution kernel (the dense convolution is the same kernel with every pixel active).'
            : 'Computed on the CPU with SparkLab’s float64 reference convolutions (no WebGPU here).'
          : 'Computing…'}
      </p>
    </section>
  );
}
