import { describe, expect, it } from 'vitest';
import { DeviceLostError, GpuOperationError, GpuRunError } from '../gpu/errors';
import { ConfigError } from '../models/config';
import { describeFailure } from './failures';
import { AsyncMutex } from './mutex';

describe('describeFailure (the notice kind and sentence of a failed run)', () => {
  it('names GPU errors gpu-error with a sentence, keeps sentences, and flags programming errors', () => {
    const oom = new GpuRunError(
      'out-of-memory',
      'step 12',
      'allocation failed',
      'The GPU ran out of memory …',
    );
    expect(describeFailure(oom)).toEqual({ kind: 'gpu-error', message: 'The GPU ran out of memory …' });
    const readBack = describeFailure(
      new GpuOperationError('validation', 'the read-back of loss', 'invalid buffer'),
    );
    expect(readBack.kind).toBe('gpu-error');
    expect(readBack.message).toMatch(
      /^The GPU refused the work of the read-back of loss \(validation error: invalid buffer\)/,
    );
    expect(describeFailure(new DeviceLostError('The GPU device was lost (x).'))).toEqual({
      kind: 'device-lost',
      message: 'The GPU device was lost (x).',
    });
    expect(describeFailure(new ConfigError('Use a smaller batch.'))).toEqual({
      kind: 'worker-error',
      message: 'Use a smaller batch.',
    });
    expect(
      describeFailure(new TypeError("Cannot read properties of undefined (reading 'decay')")).message,
    ).toBe(
      "An internal error stopped the run (TypeError: Cannot read properties of undefined (reading 'decay')); please report it.",
    );
  });
});

describe('AsyncMutex', () => {
  it('runs calls one at a time in order, and a rejection does not block the next call', async () => {
    const mutex = new AsyncMutex();
    const log: string[] = [];
    const task = (name: string, ms: number, fail = false) =>
      mutex.run(async () => {
        log.push(`${name} start`);
        await new Promise((resolve) => setTimeout(resolve, ms));
        log.push(`${name} end`);
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([task('a', 20), task('b', 1, true), task('c', 5)]);
    expect(log).toEqual(['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(mutex.busy).toBe(false);
  });
});
