import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(__dirname, '../..');
const out = mkdtempSync(join(tmpdir(), 'sparklab-train-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Runs the real entry point the way `npm run train` does (same node flags as package.json). */
function train(args: string[]) {
  return spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', './scripts/raw-loader.mjs', 'src/cli/train.ts', ...args],
    { cwd: root, encoding: 'utf8', timeout: 300_000 },
  );
}

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

// The tiny preset shrunk to 16-px images (a 2×2 mask grid) and two images per step, so the process finishes
// in seconds of SwiftShader time; the command line is otherwise the documented one.
const SMALL = [
  '--preset',
  'tiny',
  '--data',
  'fashion',
  '--image-size',
  '16',
  '--batch',
  '2',
  '--held-out',
  '2',
];

describe('npm run train (process contract)', () => {
  it('--json: a line per log interval, a final line with both held-out losses; checkpoint, grid; --resume restores the saved run (its length wins)', () => {
    const first = train([
      ...SMALL,
      '--steps',
      '2',
      '--log-every',
      '1',
      '--seed',
      '0',
      '--out',
      out,
      '--json',
    ]);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    const lines = jsonLines(first.stdout);
    const metrics = lines.filter((l) => l.event === undefined && l.initialHeldOutLoss === undefined);
    expect(metrics.map((l) => l.step)).toEqual([1, 2]);
    for (const l of metrics) {
      expect(Number.isFinite(l.loss)).toBe(true);
      expect(Number.isFinite(l.lr)).toBe(true);
      expect(Number.isFinite(l.imagesPerSecond)).toBe(true);
    }
    const final = lines.at(-1) as Record<string, number>;
    expect(final.step).toBe(2);
    expect(Number.isFinite(final.initialHeldOutLoss)).toBe(true);
    expect(Number.isFinite(final.heldOutLoss)).toBe(true);
    expect(existsSync(join(out, 'checkpoints', 'latest.json'))).toBe(true);
    expect(existsSync(join(out, 'grids', 'final-held-out.png'))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).initialHeldOutLoss).toBe(
      final.initialHeldOutLoss,
    );

    const resumed = train([
      ...SMALL,
      '--steps',
      '3',
      '--log-every',
      '1',
      '--seed',
      '0',
      '--lr',
      '0.5',
      '--out',
      out,
      '--json',
      '--resume',
    ]);
    expect(resumed.stderr).toBe('');
    expect(resumed.status).toBe(0);
    const again = jsonLines(resumed.stdout);
    expect(
      again.some((l) => l.event === 'log' && /^Resuming from step 2 of 2\./.test(String(l.message))),
    ).toBe(true);
    // The checkpoint carries its run length (2), which wins over --steps 3: the resumed run has nothing left
    // to do and reports the same initial held-out loss.
    expect(
      again.some((l) =>
        /^The saved run is 2 steps long; it continues to that length/.test(String(l.message)),
      ),
    ).toBe(true);
    expect((again.at(-1) as Record<string, number>).initialHeldOutLoss).toBe(final.initialHeldOutLoss);
    // A flag the saved run overrides is named, not silently dropped.
    expect(
      again.some((l) =>
        /^--lr 0.5 is ignored: the resumed run keeps its saved learning rate/.test(String(l.message)),
      ),
    ).toBe(true);
  }, 600_000);

  it('exits 2 with a sentence on a bad command line, before touching the GPU', () => {
    const bad = train(['--preset', 'tiny', '--batch', '1']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--batch must be at least 2: BatchNorm needs more than one image per step/);
    const stride = train(['--preset', 'tiny', '--image-size', '36']);
    expect(stride.status).toBe(2);
    expect(stride.stderr).toMatch(/image size 36 is not divisible by the encoder's total stride 8/);
  }, 120_000);
});
