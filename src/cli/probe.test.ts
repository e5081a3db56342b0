import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArgsError } from './args';
import { parseProbeArgs } from './probe-args';

const root = join(__dirname, '../..');

/** Runs the real entry point the way `npm run probe` does (same node flags as package.json). */
function probe(args: string[]) {
  return spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', './scripts/raw-loader.mjs', 'src/cli/probe.ts', ...args],
    { cwd: root, encoding: 'utf8', timeout: 900_000 },
  );
}

describe('npm run probe (process contract)', () => {
  it('--json: result lines per (arm, protocol) and a final line with results, splits, chance, control, initHash', () => {
    // The tiny preset at 16 px, two pre-training steps, a few dozen probe images: ~1 min of SwiftShader time
    // on an idle machine (5 min on the overloaded shared one, hence the generous limits).
    const run = probe([
      ...['--preset', 'tiny', '--data', 'fashion', '--image-size', '16', '--batch', '2'],
      ...['--pretrain-steps', '2', '--arms', 'random,sparse', '--protocols', 'knn,linear'],
      ...['--probe-train', '48', '--probe-test', '24', '--feature-batch', '24', '--linear-epochs', '2'],
      ...['--seed', '3', '--json'],
    ]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // Every line before the final one says when it was written (seconds since the start, not decreasing).
    const times = lines.slice(0, -1).map((l) => l.seconds as number);
    expect(times.every((t) => typeof t === 'number' && t >= 0)).toBe(true);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const results = lines.filter((l) => l.event === 'result');
    expect(results.map((l) => `${l.arm}/${l.protocol}`)).toEqual([
      'random/knn',
      'random/linear',
      'sparse/knn',
      'sparse/linear',
    ]);
    const last = lines[lines.length - 1] as {
      results: Record<string, Record<string, { accuracy: number; samples: number }>>;
      probeTrain: number;
      probeTest: number;
      chance: number;
      shuffledControl: Record<string, unknown>;
      initHash: string;
    };
    expect(Object.keys(last.results)).toEqual(['random', 'sparse']);
    for (const arm of ['random', 'sparse'])
      for (const protocol of ['knn', 'linear']) {
        const score = last.results[arm][protocol];
        expect(score.samples).toBe(24);
        expect(score.accuracy).toBeGreaterThanOrEqual(0);
        expect(score.accuracy).toBeLessThanOrEqual(1);
      }
    expect([last.probeTrain, last.probeTest]).toEqual([48, 24]);
    expect(last.chance).toBeGreaterThan(0);
    expect(last.chance).toBeLessThan(0.5);
    expect(last.shuffledControl.arm).toBe('random');
    expect(last.initHash).toMatch(/^[0-9a-f]{16}$/);
    // The random arm's line carries the same hash.
    expect(lines.find((l) => l.event === 'arm' && l.arm === 'random')?.initHash).toBe(last.initHash);
  }, 900_000);

  it('a mistake is one sentence on stderr and exit code 2', () => {
    const run = probe(['--protocols', 'knn,svm']);
    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toMatch(/^--protocols: "svm" is not one of knn, linear, finetune\./);
  });
});

describe('probe arguments', () => {
  it('defaults follow the issue command', () => {
    const a = parseProbeArgs([]);
    expect([a.preset, a.pretrainSteps, a.arms.join(), a.protocols.join(), a.seed]).toEqual([
      'tiny',
      150,
      'random,sparse,dense-zero',
      'knn,linear',
      0,
    ]);
    // The probe sizes and features that put random-init k-NN above 50 % on the tiny preset (docs/PROBE.md).
    expect([a.probeTrain, a.probeTest, a.pool, a.knnRaw]).toEqual([2500, 500, 'all', false]);
    expect(parseProbeArgs(['--knn-raw', '--pool', 'last'])).toMatchObject({ knnRaw: true, pool: 'last' });
  });

  it('--checkpoint adds the checkpoint arm; model flags are kept in order', () => {
    const a = parseProbeArgs(['--checkpoint', 'runs/x', '--widths', '8,8,8', '--mask-token', 'zeros']);
    expect(a.arms).toContain('checkpoint');
    expect(a.model).toEqual([
      ['widths', '8,8,8'],
      ['mask-token', 'zeros'],
    ]);
  });

  it('fine-tuning flags: steps cap, batch, lr, layer decay', () => {
    const a = parseProbeArgs(['--protocols', 'finetune', '--finetune-steps', '120', '--layer-decay', '0.8']);
    expect([a.protocols, a.finetuneSteps, a.finetuneBatch, a.finetuneLr, a.layerDecay]).toEqual([
      ['finetune'],
      120,
      32,
      undefined,
      0.8,
    ]);
    expect(() => parseProbeArgs(['--layer-decay', '1.5'])).toThrow(/at most 1/);
    expect(() => parseProbeArgs(['--finetune-batch', '1'])).toThrow(/at least 2/);
  });

  it('names what is wrong', () => {
    expect(() => parseProbeArgs(['--arms', 'checkpoint'])).toThrow(/needs --checkpoint PATH/);
    expect(() => parseProbeArgs(['--pretrain-step', '3'])).toThrow(/Did you mean --pretrain-steps\?/);
    expect(() => parseProbeArgs(['--pool', 'max'])).toThrow(ArgsError);
    expect(() => parseProbeArgs(['--arms', 'random,random'])).toThrow(/twice/);
  });
});
