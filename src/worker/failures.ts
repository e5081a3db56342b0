/**
 * What a failed worker call or step loop tells the page: a `kind` (the notice's `data-kind`) and the
 * sentence. Errors that already are sentences for the user pass through; the rest are named as what they
 * are, so the page never shows a bare "TypeError".
 */
import { DeviceLostError, GpuOperationError, GpuRunError, gpuErrorSentence } from '../gpu/errors';

const PROGRAMMING_ERRORS = new Set(['TypeError', 'ReferenceError', 'SyntaxError']);

export interface FailureReport {
  kind: string;
  message: string;
}

export function describeFailure(error: unknown): FailureReport {
  if (error instanceof GpuRunError) return { kind: 'gpu-error', message: error.message };
  if (error instanceof GpuOperationError)
    return { kind: 'gpu-error', message: gpuErrorSentence(error.kind, error.label, error.detail) };
  if (error instanceof DeviceLostError) return { kind: 'device-lost', message: error.message };
  if (error instanceof Error) {
    // Programming errors are not sentences written for the user: say so instead of showing them bare.
    if (PROGRAMMING_ERRORS.has(error.name))
      return {
        kind: 'worker-error',
        message: `An internal error stopped the run (${error.name}: ${error.message}); please report it.`,
      };
    return { kind: 'worker-error', message: error.message };
  }
  return { kind: 'worker-error', message: String(error) };
}
