#!/usr/bin/env node
/**
 * Before/after timing of two commits on this machine's adapter, old and new runs alternating so that drift
 * in the machine's load falls on both sides alike:
 *
 *   node scripts/compare-commits.mjs OLD NEW [--runs 5] [--cases sparse,train-tiny,train-resnet,build]
 *
 * Each commit is checked out into a temporary worktree (sharing this checkout's node_modules) and removed at
 * the end. The cases, each a fresh process per run:
 *   sparse        npm run bench -- sparse --case conv3x3 --ratios 0.6 --iterations 5      (sparseMs)
 *   train-tiny    npm run bench -- train --presets tiny --batch 8 --steps 5                 (stepMs)
 *   train-resnet  npm run bench -- train --presets resnet-s8-32 --batch 4 --steps 5         (stepMs)
 *   build         Trainer.create of resnet-s8-32 at batch 4 in a fresh process: every pipeline compiled
 *                 and every dispatch prepared (buildMs; the same probe file is written into both worktrees)
 * Prints one line per case: the median of each side, the ratio new / old, and every sample. Ratios on a
 * loaded machine are noisy; rerun on a quiet one before drawing conclusions.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
function option(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
}
const [oldRef, newRef] = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (!oldRef || !newRef) {
  console.error(
    'usage: node scripts/compare-commits.mjs OLD NEW [--runs 5] [--cases sparse,train-tiny,train-resnet,build]',
  );
  process.exit(2);
}
const runs = Number(option('runs', '5'));
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a positive whole number, got ${option('runs')}.`);
  process.exit(2);
}
const repo = execFileSync('git', ['rev-parse', '--show-toplevel'], { encoding: 'utf8' }).trim();
const nodeModules = resolve(repo, 'node_modules');

const BUILD_PROBE = `// Written by scripts/compare-commits.mjs into a temporary worktree: pipeline build time of one model.
import type { Dataset } from '../src/data/datasets';
import type { Gpu } from '../src/gpu/runtime';
import { PRESET_TRAINING, type PresetName, preset } from '../src/models/presets';
import { Trainer } from '../src/train/trainer';

export default async function bench(gpu: Gpu, args: string[]): Promise<void> {
  const name = args[0] as PresetName;
  const batch = Number(args[1]);
  const config = preset(name);
  const size = config.inputSize;
  const dataset: Dataset = {
    name: 'synthetic',
    imageSize: size,
    normalization: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    trainCount: 1,
    heldOutCount: 1,
    trainBatch: (b: number) => new Float32Array(b * 3 * size * size),
    heldOutBatch: (count: number) => new Float32Array(count * 3 * size * size),
  };
  const start = performance.now();
  const trainer = await Trainer.create(gpu, {
    config, batch, totalSteps: 1, seed: 0, dataset, lr: PRESET_TRAINING[name].lr, metricsEvery: 1, checkpointEvery: 0,
  });
  await gpu.idle();
  const buildMs = performance.now() - start;
  console.log(JSON.stringify({ case: \`build \${name}\`, adapter: gpu.label, batch, buildMs: Number(buildMs.toFixed(1)), pipelines: gpu.pipelineCount }));
  trainer.destroy();
}
`;

const BENCH = ['--import', 'tsx', '--import', './scripts/raw-loader.mjs', 'src/cli/bench.ts'];
const CASES = {
  sparse: {
    argv: ['sparse', '--case', 'conv3x3', '--ratios', '0.6', '--iterations', '5'],
    field: 'sparseMs',
  },
  'train-tiny': { argv: ['train', '--presets', 'tiny', '--batch', '8', '--steps', '5'], field: 'stepMs' },
  'train-resnet': {
    argv: ['train', '--presets', 'resnet-s8-32', '--batch', '4', '--steps', '5'],
    field: 'stepMs',
  },
  build: { argv: ['compare-build', 'resnet-s8-32', '4'], field: 'buildMs' },
};
const caseNames = option('cases', Object.keys(CASES).join(',')).split(',');
for (const name of caseNames) {
  if (!CASES[name]) {
    console.error(`unknown case ${name}; the cases are ${Object.keys(CASES).join(', ')}.`);
    process.exit(2);
  }
}

function checkout(ref) {
  const sha = execFileSync('git', ['rev-parse', '--verify', `${ref}^{commit}`], {
    cwd: repo,
    encoding: 'utf8',
  }).trim();
  const dir = mkdtempSync(join(tmpdir(), `compare-${sha.slice(0, 7)}-`));
  rmSync(dir, { recursive: true });
  execFileSync('git', ['worktree', 'add', '--detach', dir, sha], { cwd: repo, stdio: 'ignore' });
  symlinkSync(nodeModules, join(dir, 'node_modules'));
  writeFileSync(join(dir, 'bench', 'compare-build.ts'), BUILD_PROBE);
  return { ref, sha, dir };
}

function runOnce(side, name) {
  const { argv, field } = CASES[name];
  const result = spawnSync(process.execPath, [...BENCH, ...argv], { cwd: side.dir, encoding: 'utf8' });
  const line = result.stdout.split('\n').find((l) => l.startsWith('{') && l.includes(`"${field}"`));
  if (result.status !== 0 || !line) {
    throw new Error(
      `${name} at ${side.ref} (${side.sha.slice(0, 7)}) failed (exit ${result.status}):\n${result.stderr.slice(-2000)}`,
    );
  }
  const record = JSON.parse(line);
  return { value: record[field], adapter: record.adapter };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const sides = [];
try {
  sides.push(checkout(oldRef), checkout(newRef));
  const [oldSide, newSide] = sides;
  console.log(
    `old ${oldRef} = ${oldSide.sha.slice(0, 10)}, new ${newRef} = ${newSide.sha.slice(0, 10)}, ${runs} runs per side`,
  );
  for (const name of caseNames) {
    const samples = { old: [], new: [] };
    let adapter = '';
    for (let i = 0; i < runs; i++) {
      // Alternate which side goes first, so a trend in the machine's load does not favour one side.
      const order = i % 2 === 0 ? ['old', 'new'] : ['new', 'old'];
      for (const which of order) {
        const r = runOnce(which === 'old' ? oldSide : newSide, name);
        samples[which].push(r.value);
        adapter = r.adapter;
      }
    }
    const o = median(samples.old);
    const n = median(samples.new);
    console.log(
      JSON.stringify({
        case: name,
        field: CASES[name].field,
        oldMedian: o,
        newMedian: n,
        ratio: Number((n / o).toFixed(3)),
        old: samples.old,
        new: samples.new,
        adapter,
      }),
    );
  }
} finally {
  for (const side of sides) {
    if (existsSync(side.dir))
      execFileSync('git', ['worktree', 'remove', '--force', side.dir], { cwd: repo, stdio: 'ignore' });
  }
}
