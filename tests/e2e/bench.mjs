// Smoke of the peer benchmark (issue #11), run by run-e2e.mjs: `npm run bench -- peer-tfjs` on tiny at batch 2
// with one timed step, in its own headless Chromium (bench/page). Checks the JSON line's shape and the loss
// check (SparkLab sparse vs the TF.js model on the same adapter); no timing is asserted.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function runBench(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--import', './scripts/raw-loader.mjs', 'src/cli/bench.ts', ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const NUMBER_FIELDS = ['batch', 'lossSparkLab', 'lossTfjs', 'sparkLabSparseMs', 'tfjsMs', 'sparseRatio'];

export async function benchChecks({ check, assert }) {
  await check('peer benchmark smoke: tiny, batch 2, one step; TF.js and SparkLab losses agree', async () => {
    const started = Date.now();
    const args = [
      'peer-tfjs',
      '--presets',
      'tiny',
      '--batch',
      '2',
      '--warmup',
      '0',
      '--rounds',
      '1',
      '--steps',
      '1',
    ];
    const { code, stdout, stderr } = await runBench(args);
    assert(code === 0, `npm run bench -- ${args.join(' ')} exited with ${code}: ${stderr.slice(-2000)}`);
    const lines = stdout.split('\n').filter((l) => l.startsWith('{'));
    assert(lines.length === 1, `expected one JSON line, got ${lines.length}: ${stdout.slice(-2000)}`);
    const record = JSON.parse(lines[0]);
    assert(record.case === 'peer-tfjs' && record.preset === 'tiny', `wrong case: ${lines[0]}`);
    assert(record.valid === true, `the run is invalid: ${record.invalid ?? lines[0]}`);
    assert(record.lossRelativeDifference <= 1e-3, `losses differ: ${lines[0]}`);
    for (const field of NUMBER_FIELDS)
      assert(
        typeof record[field] === 'number' && Number.isFinite(record[field]),
        `${field} missing: ${lines[0]}`,
      );
    assert(record.batch === 2, `batch ${record.batch}`);
    assert('sparkLabMs' in record && 'ratio' in record, `sparkLabMs / ratio missing: ${lines[0]}`);
    assert(typeof record.adapter === 'string' && record.adapter.length > 0, 'no adapter named');
    console.log(
      `    losses ${record.lossSparkLab} (SparkLab) / ${record.lossTfjs} (TF.js) on ${record.adapter}, ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  });
}
