/**
 * Typed GPU events. The engine never logs GPU trouble to the console: it reports it as a value that the
 * trainer, the worker and the UI can turn into a sentence for the user.
 */

export type GpuEvent =
  | { kind: 'validation'; label: string; message: string }
  | { kind: 'out-of-memory'; label: string; message: string }
  | { kind: 'internal'; label: string; message: string }
  | { kind: 'device-lost'; reason: 'destroyed' | 'unknown'; message: string };

export type GpuEventListener = (event: GpuEvent) => void;

/** Raised when no WebGPU adapter can be found; its message says what the user can do. */
export class NoAdapterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoAdapterError';
  }
}

/** A GPU error captured by an error scope, carrying the label of the work that raised it. */
export class GpuOperationError extends Error {
  constructor(
    readonly kind: 'validation' | 'out-of-memory' | 'internal',
    readonly label: string,
    /** The driver's own message. */
    readonly detail: string,
  ) {
    super(`${label}: ${kind} error: ${detail}`);
    this.name = 'GpuOperationError';
  }
}

/**
 * A GPU error (validation or out of memory) that stopped a run, with the sentence the user sees: what
 * failed, at which step, and what to do. The trainer, the worker and the CLI stop on it.
 */
export class GpuRunError extends Error {
  constructor(
    readonly kind: 'validation' | 'out-of-memory' | 'internal',
    readonly label: string,
    readonly detail: string,
    message: string,
  ) {
    super(message);
    this.name = 'GpuRunError';
  }
}

/** The sentence for a GPU error met while doing `what` (e.g. "step 12", "building the model"). */
export function gpuErrorSentence(
  kind: 'validation' | 'out-of-memory' | 'internal',
  what: string,
  detail: string,
): string {
  if (kind === 'out-of-memory')
    return (
      `The GPU ran out of memory while ${what}, so the run was stopped (${detail}). ` +
      'Use a smaller batch, image size or model, or close other tabs and programs that use the GPU.'
    );
  return (
    `The GPU refused the work of ${what} (${kind} error: ${detail}), so the run was stopped rather than go on ` +
    'with wrong numbers. This is a SparkLab bug: please report it with this message.'
  );
}

/** Raised by operations attempted after the device was lost; the trainer catches it to recover. */
export class DeviceLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceLostError';
  }
}

export class GpuEventHub {
  private readonly listeners = new Set<GpuEventListener>();
  readonly history: GpuEvent[] = [];

  on(listener: GpuEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: GpuEvent): void {
    this.history.push(event);
    if (this.history.length > 100) this.history.shift();
    for (const listener of this.listeners) listener(event);
  }
}

export function classifyGpuError(error: GPUError): 'validation' | 'out-of-memory' | 'internal' {
  const name = error.constructor?.name ?? '';
  if (name.includes('OutOfMemory')) return 'out-of-memory';
  if (name.includes('Internal')) return 'internal';
  return 'validation';
}
