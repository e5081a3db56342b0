import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { NODE_DATA_ROOT, photoDatasetNode } from '../data/builtin-node';
import { centredSquares } from '../data/view-images';
import { VIEW_FIXTURE_CONFIG, viewFixtureState } from '../io/pth/view-fixture';
import { gridSize } from '../models/config';
import { createSparkModel } from '../models/spark-model';
import { randomMask } from '../sparse/mask';
import { parseViewArgs, runView } from './view-run';

const FIXTURE = join(__dirname, '../../tests/fixtures/pth/view-convnext-custom.pth');

describe('npm run view-checkpoint', () => {
  it('opens a .pth of a non-preset ConvNeXt, writes the grid and reports the loss of the model it came from', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'view-')), 'grid.png');
    const { lines, view } = await runView(
      ['--checkpoint', FIXTURE, '--count', '3', '--seed', '4', '--out', out],
      testGpu,
    );
    expect(lines.join('\n')).toMatch(
      /Opened ConvNeXt \(dims 8-16, depths 1-2\), 32 px, decoder width 16, densify norm ln \(flat state dict\)\./,
    );
    expect(lines.join('\n')).toMatch(/inferred from the tensor names and shapes/);
    expect(lines.at(-1)).toMatch(
      /^Masked-patch loss \d+\.\d{4} on 3 image\(s\) at mask ratio 0\.6 \(weights in 1 GPU buffer\(s\), .*\); grid written to /,
    );
    // Three rows (input, masked, reconstruction) of three 32-px tiles, magnified 2×.
    const png = PNG.sync.read(readFileSync(out));
    expect(png.width).toBeGreaterThan(3 * 64);
    expect(png.height).toBeGreaterThan(3 * 64);

    // The model the file came from, on the same photos and masks (batches of up to 4: one here).
    const gpu = await testGpu();
    const S = VIEW_FIXTURE_CONFIG.inputSize;
    const photos = await photoDatasetNode({ imageSize: S }, NODE_DATA_ROOT);
    const images = centredSquares([...photos.train, ...photos.heldOut].slice(0, 3), S);
    const g = gridSize(VIEW_FIXTURE_CONFIG);
    const model = createSparkModel(gpu, VIEW_FIXTURE_CONFIG, 3);
    try {
      model.loadState(viewFixtureState());
      model.setBatch(images, randomMask(3, g, g, 0.6, 4));
      gpu.submit('source', (pass) => model.encodeEval(pass));
      expect(view?.loss).toBe((await gpu.read(model.loss))[0]);
    } finally {
      model.destroy();
    }
  }, 300_000);

  it('explains bad arguments and files in sentences', async () => {
    expect(() => parseViewArgs([])).toThrow('--checkpoint FILE.pth is required; see --help.');
    expect(() => parseViewArgs(['--checkpoint', 'x', '--count', '0'])).toThrow(
      '--count must be an integer of at least 1, got "0".',
    );
    await expect(runView(['--checkpoint', '/no/such.pth'], testGpu)).rejects.toThrow(
      /Cannot read \/no\/such\.pth/,
    );
    const forbidden = join(__dirname, '../../tests/fixtures/pth/forbidden-global.pth');
    await expect(runView(['--checkpoint', forbidden], testGpu)).rejects.toThrow(/posix\.system/);
  });
});
