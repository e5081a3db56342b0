import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runParity } from '../cli/parity';
import { sparkState } from '../models/official-names';
import { runReferenceOnFixture } from '../reference/spark/backend';
import { FixtureError, parseFixture } from './fixtures';
import { compareWithFixture } from './parity';

const dir = join(__dirname, '../../tests/fixtures/official');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.safetensors'))
  .sort();
const bytesOf = (f: string) => new Uint8Array(readFileSync(join(dir, f)));

describe('official parity fixtures', () => {
  it('the four public fixtures are in the project', () => {
    expect(files).toEqual([
      'convnext-s32-in128.safetensors',
      'resnet-basic-s32-in64.safetensors',
      'resnet-basic-s8-in32.safetensors',
      'resnet-bottleneck-s16-in64.safetensors',
    ]);
  });

  for (const f of files) {
    it(`${f}: its param/* names and shapes are exactly the official state list of its config`, () => {
      const fixture = parseFixture(bytesOf(f), f);
      const raw = readFileSync(join(dir, f));
      const header = JSON.parse(raw.subarray(8, 8 + Number(raw.readBigUInt64LE(0))).toString('utf8'));
      const fileParams = Object.keys(header)
        .filter((k) => k.startsWith('param/'))
        .map((k) => [k.slice(6), header[k].shape.join('x')].join(' '))
        .sort();
      const ours = sparkState(fixture.config.spark)
        .map((e) => [e.name, e.shape.join('x')].join(' '))
        .sort();
      expect(ours).toEqual(fileParams);
      // Every parameter has a gradient and a LAMB result in the fixture; buffers do not.
      for (const e of sparkState(fixture.config.spark)) {
        expect(fixture.expected.has(`train/grad/${e.name}`)).toBe(e.kind === 'param');
        expect(fixture.expected.has(`lamb/param/${e.name}`)).toBe(e.kind === 'param');
      }
    });

    it(`${f}: the float64 reference reproduces every expected tensor within the README tolerances`, () => {
      const fixture = parseFixture(bytesOf(f), f);
      const report = compareWithFixture(fixture, runReferenceOnFixture(fixture));
      const failed = report.comparisons.filter((c) => !c.ok).map((c) => `${c.name} rel ${c.relError}`);
      expect(failed).toEqual([]);
      expect(report.comparisons.length).toBe(fixture.expected.size);
      // The float64 reference is as close as float32 rounding of the fixture allows (README: 5e-5).
      const nonLamb = report.comparisons.filter((c) => !c.name.startsWith('lamb/'));
      expect(Math.max(...nonLamb.map((c) => c.relError))).toBeLessThan(1e-4);
    });
  }

  it('a corrupted fixture is rejected with a sentence, not a crash', () => {
    const good = bytesOf(files[0]);
    const bad = good.slice(0, good.length - 100);
    expect(() => parseFixture(bad, 'cut.safetensors')).toThrow(/data section|truncated/);
  });

  it('a fixture mask may keep any number of cells per image, but not none', () => {
    const fixture = bytesOf('resnet-basic-s8-in32.safetensors');
    const raw = Buffer.from(fixture);
    const n = Number(raw.readBigUInt64LE(0));
    const header = JSON.parse(raw.subarray(8, 8 + n).toString('utf8'));
    const [begin] = header.mask.data_offsets;
    const [batch, , g] = header.mask.shape;
    const cellsOf = (bytes: Uint8Array) =>
      Array.from(bytes.subarray(8 + n + begin, 8 + n + begin + batch * g * g));
    // Flip the first cell of image 0: one more or one fewer visible cell than len_keep, which is accepted.
    const flipped = fixture.slice();
    flipped[8 + n + begin] ^= 1;
    expect(Array.from(parseFixture(flipped, 'flipped.safetensors').mask.data)).toEqual(cellsOf(flipped));
    const empty = fixture.slice();
    empty.fill(0, 8 + n + begin, 8 + n + begin + g * g);
    expect(() => parseFixture(empty, 'mask.safetensors')).toThrow(FixtureError);
    expect(() => parseFixture(empty, 'mask.safetensors')).toThrow(/image 0 of the mask has no visible cell/);
  });
});

describe('parity command', () => {
  it('passes the four official fixtures with one line each and the final count', async () => {
    const outcome = await runParity(
      files.map((f) => join(dir, f)),
      'cpu',
    );
    expect(outcome.passed).toBe(4);
    expect(outcome.lines).toHaveLength(5);
    for (const line of outcome.lines.slice(0, 4))
      expect(line).toMatch(/^PASS \S+\.safetensors: worst \S+.* rel \d\.\d\de[-+]\d+/);
    expect(outcome.lines[4]).toBe('parity: 4/4 fixtures passed');
  });

  it('reports unreadable files and wrong results as failures', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'parity-'));
    const wrong = bytesOf('resnet-basic-s8-in32.safetensors').slice();
    const raw = Buffer.from(wrong);
    const n = Number(raw.readBigUInt64LE(0));
    const header = JSON.parse(raw.subarray(8, 8 + n).toString('utf8'));
    // Perturb one weight so that the reference's results cannot match the recorded ones.
    const [begin] = header['param/dense_decoder.proj.weight'].data_offsets;
    new DataView(wrong.buffer).setFloat32(8 + n + begin, 3, true);
    writeFileSync(join(tmp, 'wrong.safetensors'), wrong);
    writeFileSync(join(tmp, 'junk.safetensors'), 'not a fixture');
    const outcome = await runParity(
      [join(tmp, 'wrong.safetensors'), join(tmp, 'junk.safetensors'), join(tmp, 'missing.safetensors')],
      'cpu',
    );
    expect(outcome.passed).toBe(0);
    expect(outcome.lines[0]).toMatch(/^FAIL wrong\.safetensors: worst .* tensors out of tolerance/);
    expect(outcome.lines.some((l) => /^FAIL junk\.safetensors: cannot read the fixture/.test(l))).toBe(true);
    expect(outcome.lines.some((l) => /^FAIL missing\.safetensors: cannot read the fixture/.test(l))).toBe(
      true,
    );
    expect(outcome.lines.at(-1)).toBe('parity: 0/3 fixtures passed');
    await expect(runParity([], 'tpu')).rejects.toThrow(/Unknown parity backend 'tpu'/);
  });
});
