import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { preset } from '../models/presets';
import { parseTrainArgs, TRAIN_USAGE } from './args';
import { ArgsError } from './flag-common';
import { MODEL_FLAGS } from './model-flags';
import { modelConfig } from './model-options';
import { PROBE_USAGE, parseProbeArgs } from './probe-args';

describe('model options in npm run train (the table npm run probe uses)', () => {
  it('every model flag is accepted by both commands and listed in both helps', () => {
    for (const f of MODEL_FLAGS) {
      expect(TRAIN_USAGE).toContain(`--${f.flag}`);
      expect(PROBE_USAGE).toContain(`--${f.flag}`);
    }
    const train = parseTrainArgs(['--widths', '4,8,16', '--mask-token', 'zeros', '--mask-ratio', '0.75']);
    expect(train.model).toEqual([
      ['widths', '4,8,16'],
      ['mask-token', 'zeros'],
    ]);
    // --mask-ratio keeps its own field in train (resume compares it with the checkpoint).
    expect(train.maskRatio).toBe(0.75);
    expect(parseTrainArgs(['--config', 'm.json', '--init', 'w.safetensors'])).toMatchObject({
      config: 'm.json',
      init: 'w.safetensors',
    });
    expect(parseProbeArgs(['--widths', '4,8,16']).model).toEqual([['widths', '4,8,16']]);
  });

  it('a resumed run refuses model options: it keeps its checkpoint', () => {
    expect(() =>
      parseTrainArgs(['--resume', '--out', 'runs/x', '--widths', '4,8,16', '--init', 'w']),
    ).toThrow(
      '--widths, --init apply to new runs: a resumed run keeps the model and weights of its checkpoint.',
    );
  });

  it('--config then flags, in order, validated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparklab-config-'));
    const file = join(dir, 'model.json');
    writeFileSync(
      file,
      JSON.stringify({ decoderWidth: 16, backbone: { widths: [4, 8, 16] }, lossOn: 'all' }),
    );
    const config = await modelConfig(preset('tiny'), file, [['widths', '8,8,8']]);
    expect([config.decoderWidth, config.lossOn]).toEqual([16, 'all']);
    expect(config.backbone.family === 'resnet' && config.backbone.widths).toEqual([8, 8, 8]);
    expect(config.backbone.depths).toEqual(preset('tiny').backbone.depths);
    await expect(modelConfig(preset('tiny'), undefined, [['widths', '8,8']])).rejects.toThrow(ArgsError);
    await expect(modelConfig(preset('tiny'), join(dir, 'missing.json'), [])).rejects.toThrow(
      /Cannot read --config/,
    );
  });
});
