import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSafetensors } from '../io/safetensors';
import { preset } from '../models/presets';
import { TRAINER_CHECKPOINT_FORMAT } from '../train/checkpoint';
import { parseTrainArgs } from './args';
import { readCheckpointProgress, readRunRecord, resumeOverrides, writeFileAtomically } from './resume';

const root = join(__dirname, '../..');
const out = mkdtempSync(join(tmpdir(), 'sparklab-train-input-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function train(args: string[]) {
  return spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', './scripts/raw-loader.mjs', 'src/cli/train.ts', ...args],
    { cwd: root, encoding: 'utf8', timeout: 300_000 },
  );
}

const STACK_LINE = /\n\s+at /;

function checkpointHeaderOnly(progress: Record<string, unknown>): Uint8Array {
  return writeSafetensors([], {
    format: TRAINER_CHECKPOINT_FORMAT,
    config: JSON.stringify(preset('tiny')),
    progress: JSON.stringify(progress),
  });
}

describe('npm run train with bad input', () => {
  it('refuses a held-out batch too large for memory before allocating it, in one sentence', () => {
    const run = train([
      '--preset',
      'tiny',
      '--image-size',
      '4096',
      '--held-out',
      '64',
      '--out',
      join(out, 'big'),
    ]);
    expect(run.stderr).toMatch(/--held-out 64 at 4096 px needs 12288 MiB of memory/);
    expect(run.stderr).not.toMatch(STACK_LINE);
    expect(run.status).toBe(2);
  }, 120_000);

  it('--resume with a damaged checkpoint record: one sentence, exit 2, nothing outside the folder read', () => {
    const dir = join(out, 'damaged', 'checkpoints');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'latest.json'),
      JSON.stringify({
        name: 'latest',
        bytes: 4,
        savedAt: new Date().toISOString(),
        meta: {},
        file: '../run.json',
      }),
    );
    const run = train(['--preset', 'tiny', '--out', join(out, 'damaged'), '--resume']);
    expect(run.stderr).toMatch(/The record of the checkpoint "latest" is damaged/);
    expect(run.stderr).not.toMatch(STACK_LINE);
    expect(run.status).toBe(2);
  }, 120_000);

  it('names each flag the resumed run overrides', () => {
    const args = parseTrainArgs(
      ['--lr', '0.5', '--seed', '3', '--optimizer', 'adamw', '--mask-ratio', '0.5'],
      {
        presets: ['tiny'],
        isDirectory: () => true,
      },
    );
    const saved = readCheckpointProgress(
      checkpointHeaderOnly({ step: 4, totalSteps: 10, seed: 0, hyper: { peakLr: 0.001, optimizer: 'lamb' } }),
      'latest',
    );
    const messages = resumeOverrides(args, saved).join('\n');
    expect(messages).toMatch(/--lr 0.5 is ignored: the resumed run keeps its saved learning rate 0.001/);
    expect(messages).toMatch(/--seed 3 is ignored: the resumed run keeps its saved seed 0/);
    expect(messages).toMatch(/--optimizer adamw is ignored: the resumed run keeps its saved optimiser lamb/);
    expect(messages).toMatch(/--mask-ratio 0.5 is ignored: the resumed run keeps its saved mask ratio 0.6/);
    const same = parseTrainArgs([], { presets: ['tiny'], isDirectory: () => true });
    expect(resumeOverrides(same, saved)).toEqual([]);
  });

  it('refuses a checkpoint whose progress is damaged, from its header', () => {
    expect(() =>
      readCheckpointProgress(checkpointHeaderOnly({ step: 'x', totalSteps: 1 }), 'latest'),
    ).toThrow(/damaged step count/);
    expect(() => readCheckpointProgress(writeSafetensors([], { format: 'other' }), 'latest')).toThrow(
      /is not a sparklab-trainer-checkpoint file \(format "other"\)\. It cannot be resumed\./,
    );
  });

  it('writes run.json atomically and reads a lost or damaged one as unknown, with a sentence', async () => {
    const path = join(out, 'run.json');
    await writeFileAtomically(path, '{"initialHeldOutLoss": 1.5, "preset": "tiny", "data": "fashion"}');
    const logged: string[] = [];
    expect((await readRunRecord(path, (m) => logged.push(m)))?.initialHeldOutLoss).toBe(1.5);
    writeFileSync(path, '{"initialHeld');
    expect(await readRunRecord(path, (m) => logged.push(m))).toBeUndefined();
    rmSync(path);
    expect(await readRunRecord(path, (m) => logged.push(m))).toBeUndefined();
    expect(logged).toHaveLength(2);
    expect(logged[0]).toMatch(/is missing or damaged, so the held-out loss before training is unknown/);
  });
});
