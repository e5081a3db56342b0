/**
 * Training progress for the CLI: a one-line bar with rate and ETA redrawn in place on a terminal, and JSON
 * lines otherwise (`--json`, or output piped to a file / CI log, where carriage returns would be noise).
 */

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Last step of the run. */
  total: number;
  /** Step the run starts from (non-zero when resuming); the ETA counts only steps run in this process. */
  startStep?: number;
  json?: boolean;
  stream?: ProgressStream;
  /** Milliseconds; injectable for tests. */
  now?: () => number;
  /** Minimum milliseconds between bar redraws. */
  redrawMs?: number;
}

export interface ProgressFields {
  loss?: number;
  lr?: number;
  imagesPerSecond?: number;
  [key: string]: unknown;
}

/** JSON that keeps NaN and ±Infinity visible as strings instead of turning them into null. */
export function jsonLine(record: Record<string, unknown>): string {
  return `${JSON.stringify(record, (_key, value) =>
    typeof value === 'number' && !Number.isFinite(value) ? String(value) : value,
  )}\n`;
}

/** 75 s → "1m15s", 3725 s → "1h02m", 9 s → "9s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toPrecision(4);
}

/** Rate over a sliding window of recent updates, so the ETA follows speed changes without jitter. */
const WINDOW = 20;

export class Progress {
  readonly mode: 'bar' | 'json';
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly total: number;
  private readonly redrawMs: number;
  private readonly samples: { step: number; time: number }[] = [];
  private lastDraw = Number.NEGATIVE_INFINITY;
  private barVisible = false;
  private lastLine = '';

  constructor(options: ProgressOptions) {
    this.stream = options.stream ?? process.stdout;
    this.now = options.now ?? (() => performance.now());
    this.total = options.total;
    this.redrawMs = options.redrawMs ?? 100;
    this.mode = options.json || !this.stream.isTTY ? 'json' : 'bar';
    this.samples.push({ step: options.startStep ?? 0, time: this.now() });
  }

  /** Steps per second over the recent window (0 until two updates). */
  rate(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const seconds = (last.time - first.time) / 1000;
    return seconds > 0 ? (last.step - first.step) / seconds : 0;
  }

  /** Seconds to the last step at the current rate (Infinity while unknown). */
  eta(step: number): number {
    const rate = this.rate();
    return rate > 0 ? (this.total - step) / rate : Number.POSITIVE_INFINITY;
  }

  /** Reports the run at `step`. JSON mode writes a line each call; the bar redraws at most every redrawMs. */
  update(step: number, fields: ProgressFields = {}): void {
    const time = this.now();
    this.samples.push({ step, time });
    if (this.samples.length > WINDOW) this.samples.shift();
    if (this.mode === 'json') {
      this.stream.write(jsonLine({ step, ...fields }));
      return;
    }
    if (time - this.lastDraw < this.redrawMs && step < this.total) return;
    this.lastDraw = time;
    this.draw(this.barLine(step, fields));
  }

  /** A message that is not a progress update (checkpoint saved, file skipped): above the bar, or a JSON line. */
  log(message: string, record: Record<string, unknown> = {}): void {
    if (this.mode === 'json') {
      this.stream.write(jsonLine({ event: 'log', message, ...record }));
      return;
    }
    const bar = this.barVisible ? this.lastLine : '';
    this.clear();
    this.stream.write(`${message}\n`);
    if (bar) this.draw(bar);
  }

  /** The final record (e.g. `{initialHeldOutLoss, heldOutLoss}`): always one JSON line, after the bar. */
  finish(summary: Record<string, unknown>): void {
    if (this.barVisible) this.stream.write('\n');
    this.barVisible = false;
    this.stream.write(jsonLine(summary));
  }

  barLine(step: number, fields: ProgressFields): string {
    const fraction = this.total > 0 ? Math.min(1, step / this.total) : 1;
    const parts = [`${step}/${this.total}`, `${(fraction * 100).toFixed(0).padStart(3)}%`];
    if (fields.loss !== undefined) parts.push(`loss ${formatNumber(fields.loss)}`);
    if (fields.lr !== undefined) parts.push(`lr ${formatNumber(fields.lr)}`);
    if (fields.imagesPerSecond !== undefined) parts.push(`${fields.imagesPerSecond.toFixed(1)} img/s`);
    parts.push(step >= this.total ? 'done' : `ETA ${formatDuration(this.eta(step))}`);
    const text = parts.join('  ');
    const columns = this.stream.columns ?? 80;
    const width = Math.max(10, Math.min(40, columns - text.length - 4));
    const filled = Math.round(fraction * width);
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`;
  }

  private draw(line: string): void {
    const columns = this.stream.columns ?? 80;
    const shown = line.length > columns - 1 ? line.slice(0, columns - 1) : line;
    // \r + erase-line: redraw in place without leftovers from a longer previous line.
    this.stream.write(`\r\x1b[2K${shown}`);
    this.barVisible = true;
    this.lastLine = line;
  }

  private clear(): void {
    if (this.barVisible) this.stream.write('\r\x1b[2K');
    this.barVisible = false;
  }
}
