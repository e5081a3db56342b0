import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(__dirname, '../..');
const out = mkdtempSync(join(tmpdir(), 'sparklab-kill-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const NODE_FLAGS = ['--import', 'tsx', '--import', './scripts/raw-loader.mjs', 'src/cli/train.ts'];
// The tiny preset at 16 px, batch 2 (as train.test.ts), a checkpoint every 2 steps.
const ARGS = [
  ...['--preset', 'tiny', '--data', 'fashion', '--image-size', '16', '--batch', '2', '--held-out', '2'],
  ...['--steps', '12', '--log-every', '1', '--checkpoint-every', '2', '--grid-every', '0', '--seed', '0'],
  ...['--out', out, '--json'],
];

/**
 * Starts the CLI with its fault-injection switch: it SIGKILLs itself during its second checkpoint save, after
 * the payload is on disk and before the record points at it (a watcher on the folder raced the write under
 * load). Resolves to the step of the last complete checkpoint, as its record says after the kill.
 */
function trainAndKillDuringCheckpoint(): Promise<number> {
  const checkpoints = join(out, 'checkpoints');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, ...ARGS], {
      cwd: root,
      stdio: 'ignore',
      env: { ...process.env, SPARKLAB_FAULT_KILL_AT_SAVE: '2' },
    });
    child.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`the run ended without the kill (${signal})`));
      const record = JSON.parse(readFileSync(join(checkpoints, 'latest.json'), 'utf8'));
      resolve(Number(record.meta.step));
    });
  });
}

describe('npm run train, killed during a checkpoint write', () => {
  it('SIGKILL in the middle of a checkpoint write: --resume continues from the last complete checkpoint', async () => {
    const lastComplete = await trainAndKillDuringCheckpoint();
    expect(lastComplete).toBe(2);
    // The interrupted save left its payload behind, unreferenced.
    expect(readdirSync(join(out, 'checkpoints')).filter((f) => f.endsWith('.safetensors')).length).toBe(2);
    const resumed = spawnSync(process.execPath, [...NODE_FLAGS, ...ARGS, '--resume'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(resumed.stderr).toBe('');
    expect(resumed.status).toBe(0);
    const lines = resumed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => /^Resuming from step 2 of 12\./.test(String(l.message)))).toBe(true);
    expect(lines.filter((l) => typeof l.loss === 'number').map((l) => l.step)).toEqual([
      3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ]);
    expect((lines.at(-1) as Record<string, number>).step).toBe(12);
  }, 600_000);
});
