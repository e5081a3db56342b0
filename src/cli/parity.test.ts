import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '../..');
const fixture = 'tests/fixtures/official/resnet-basic-s8-in32.safetensors';

/** Runs the real entry point the way `npm run parity` does (same node flags as package.json). */
function parity(args: string[]) {
  return spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', './scripts/raw-loader.mjs', 'src/cli/parity.ts', ...args],
    // Generous: the GPU backend compiles its pipelines on SwiftShader, which takes tens of seconds under CI load.
    { cwd: root, encoding: 'utf8', timeout: 300_000 },
  );
}

describe('npm run parity (process contract)', () => {
  it('exits 0 and prints the final count when every fixture passes', () => {
    const run = parity(['--backend', 'cpu', fixture]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^PASS resnet-basic-s8-in32\.safetensors: worst /m);
    expect(run.stdout.trim().split('\n').at(-1)).toBe('parity: 1/1 fixtures passed');
  });

  it('exits 1 when a fixture cannot be read, 2 on a usage error', () => {
    const run = parity([fixture, 'no-such-file.safetensors']);
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/^FAIL no-such-file\.safetensors: cannot read the fixture/m);
    expect(run.stdout.trim().split('\n').at(-1)).toBe('parity: 1/2 fixtures passed');
    expect(parity([]).status).toBe(2);
    expect(parity(['--backend', 'nope', fixture]).status).toBe(2);
  }, 400_000);
});
