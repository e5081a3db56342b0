/**
 * The layering check (`npm run check:cycles`, .dependency-cruiser.cjs) must be able to fail: it passes on a
 * copy of src/, then fails on the same copy once a type-only import cycle and an import from src/train/ into
 * src/worker/ are planted in it, naming both rules.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const cruiser = join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

function check(dir: string): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, [cruiser, 'src', '--config', '.dependency-cruiser.cjs'], {
    cwd: dir,
    encoding: 'utf8',
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

function plant(file: string, line: string): void {
  writeFileSync(file, `${line}\n${readFileSync(file, 'utf8')}`);
}

describe('layering check', () => {
  it('passes on a copy of src/ and fails once a type-only cycle and a train → worker import are planted', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparklab-layering-'));
    try {
      for (const name of ['src', 'tsconfig.json', '.dependency-cruiser.cjs'])
        cpSync(join(root, name), join(dir, name), { recursive: true });
      const clean = check(dir);
      expect(clean.output).toMatch(/no dependency violations found/);
      expect(clean.status).toBe(0);

      // src/sparse/mask.ts imports the PRNG; a type import back closes a cycle that compiles away entirely.
      plant(join(dir, 'src/util/random.ts'), "import type { CellMask } from '../sparse/mask';");
      plant(join(dir, 'src/train/schedule.ts'), "import type { WorkerEvent } from '../worker/protocol';");
      const planted = check(dir);
      expect(planted.status).not.toBe(0);
      expect(planted.output).toMatch(
        /no-cycles: src\/(util\/random|sparse\/mask)\.ts →\s+src\/(sparse\/mask|util\/random)\.ts/,
      );
      expect(planted.output).toMatch(
        /train-not-worker: src\/train\/schedule\.ts → src\/worker\/protocol\.ts/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
