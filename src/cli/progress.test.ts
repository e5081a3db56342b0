import { describe, expect, it } from 'vitest';
import { formatDuration, jsonLine, Progress } from './progress';

function fakeStream(isTTY: boolean, columns = 100) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns, write: (s: string) => chunks.push(s) } };
}

function fakeClock(start = 1000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('Progress', () => {
  it('writes one JSON line per update when --json is set, even on a terminal', () => {
    const { chunks, stream } = fakeStream(true);
    const p = new Progress({ total: 300, json: true, stream, now: fakeClock().now });
    p.update(10, { loss: 0.9, lr: 1e-4, imagesPerSecond: 12.5 });
    p.update(20, { loss: Number.NaN });
    p.log('checkpoint saved', { step: 20 });
    p.finish({ initialHeldOutLoss: 1, heldOutLoss: 0.7 });
    expect(p.mode).toBe('json');
    expect(chunks.map((c) => JSON.parse(c))).toEqual([
      { step: 10, loss: 0.9, lr: 1e-4, imagesPerSecond: 12.5 },
      { step: 20, loss: 'NaN' },
      { event: 'log', message: 'checkpoint saved', step: 20 },
      { initialHeldOutLoss: 1, heldOutLoss: 0.7 },
    ]);
    expect(chunks.every((c) => c.endsWith('\n') && !c.slice(0, -1).includes('\n'))).toBe(true);
  });

  it('falls back to JSON lines when the output is not a terminal', () => {
    const { chunks, stream } = fakeStream(false);
    new Progress({ total: 5, stream }).update(1, { loss: 2 });
    expect(chunks).toEqual(['{"step":1,"loss":2}\n']);
  });

  it('draws a bar with rate and ETA in place on a terminal', () => {
    const { chunks, stream } = fakeStream(true, 120);
    const clock = fakeClock();
    const p = new Progress({ total: 100, stream, now: clock.now, redrawMs: 0 });
    clock.advance(2000);
    p.update(10, { loss: 0.5, imagesPerSecond: 40 });
    // 10 steps in 2 s: 5 steps/s, 90 steps left → 18 s.
    expect(p.rate()).toBe(5);
    const line = chunks[chunks.length - 1];
    expect(line.startsWith('\r\x1b[2K[')).toBe(true);
    expect(line).toContain('10/100   10%  loss 0.5000  40.0 img/s  ETA 18s');
    expect(line).not.toContain('\n');
    clock.advance(18000);
    p.update(100, { loss: 0.2 });
    expect(chunks[chunks.length - 1]).toContain('100/100  100%  loss 0.2000  done');
    p.finish({ heldOutLoss: 0.3 });
    expect(chunks.slice(-2)).toEqual(['\n', '{"heldOutLoss":0.3}\n']);
  });

  it('counts only the steps of this process when resuming', () => {
    const { stream } = fakeStream(true);
    const clock = fakeClock();
    const p = new Progress({ total: 300, startStep: 200, stream, now: clock.now });
    clock.advance(10000);
    p.update(210);
    expect(p.rate()).toBe(1);
    expect(p.eta(210)).toBe(90);
  });

  it('throttles redraws but always draws the last step', () => {
    const { chunks, stream } = fakeStream(true);
    const clock = fakeClock();
    const p = new Progress({ total: 50, stream, now: clock.now, redrawMs: 100 });
    for (let s = 1; s <= 50; s++) {
      clock.advance(10);
      p.update(s);
    }
    // Every 10 updates is 100 ms: draws at steps 1, 11, 21, 31, 41, and the final 50.
    expect(chunks).toHaveLength(6);
    expect(chunks[5]).toContain('50/50');
  });

  it('prints log messages above the bar and redraws it', () => {
    const { chunks, stream } = fakeStream(true);
    const p = new Progress({ total: 10, stream, now: fakeClock().now, redrawMs: 0 });
    p.update(3);
    const bar = chunks[0];
    p.log('Saved checkpoint step-3.');
    expect(chunks.slice(1)).toEqual(['\r\x1b[2K', 'Saved checkpoint step-3.\n', bar]);
  });

  it('fits the bar into a narrow terminal', () => {
    const { chunks, stream } = fakeStream(true, 40);
    const p = new Progress({ total: 1000, stream, now: fakeClock().now, redrawMs: 0 });
    p.update(500, { loss: 0.123456, lr: 0.0001, imagesPerSecond: 1234.5 });
    expect(chunks[0].length - '\r\x1b[2K'.length).toBeLessThanOrEqual(39);
  });
});

describe('formatting', () => {
  it('formats durations', () => {
    expect([9, 75, 3725, 59.6, Number.POSITIVE_INFINITY, -1].map(formatDuration)).toEqual([
      '9s',
      '1m15s',
      '1h02m',
      '1m00s',
      '?',
      '?',
    ]);
  });

  it('keeps non-finite numbers readable in JSON', () => {
    expect(jsonLine({ a: Number.POSITIVE_INFINITY, b: -Number.POSITIVE_INFINITY, c: 1 })).toBe(
      '{"a":"Infinity","b":"-Infinity","c":1}\n',
    );
  });
});
