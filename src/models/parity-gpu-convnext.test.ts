import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { parseFixture } from '../io/fixtures';
import { compareWithFixture } from '../io/parity';
import { runGpuOnFixture } from './parity-gpu';

const dir = join(__dirname, '../../tests/fixtures/official');
// A file of its own: at 128 px it is the slowest fixture on SwiftShader, and test files run in parallel.
const files = ['convnext-s32-in128.safetensors'];

// The official fixtures' own tolerances (1e-3 of each tensor's max, losses 1e-4; LAMB on the update), checked
// by the same comparison the parity CLI prints.
describe('GPU SparK model vs the official PyTorch fixtures (ConvNeXt)', () => {
  for (const file of files) {
    it(`matches ${file}`, async () => {
      const gpu = await testGpu();
      const fixture = parseFixture(new Uint8Array(readFileSync(join(dir, file))), file);
      const report = compareWithFixture(fixture, await runGpuOnFixture(gpu, fixture));
      const bad = report.comparisons
        .filter((c) => !c.ok)
        .map((c) => `${c.name} rel ${c.relError.toExponential(2)}`);
      console.log(`${file}: worst ${report.worst.name} rel ${report.worst.relError.toExponential(2)}`);
      expect(bad).toEqual([]);
      expect(report.comparisons.length).toBeGreaterThan(10);
      // SwiftShader on two shared cores: 10-90 s per fixture alone (the 128-px decoder dominates), and up to
      // several times that while other test files run.
    }, 400_000);
  }
});
