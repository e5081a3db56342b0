/**
 * Writes a SparkLab training checkpoint of an official architecture without training it, as input for
 * `npm run export -- --format official-pth` and then scripts/check-official-load.py:
 *
 *   node --import tsx scripts/official-check/make-input.ts resnet50-224 OUT.safetensors [lamb|adamw]
 *
 * The weights are the preset's initial weights (seed 1); BN running statistics, num_batches_tracked and the
 * LAMB moments are seeded values, different for every element, and the step counters are 7, so that a
 * moment landing on the wrong parameter, a buffer left at its default or a lost step counter shows.
 * An OUT ending in .pth gets the official-pth export of that checkpoint directly (what `npm run export`
 * writes), for models whose SparkLab checkpoint exceeds the 2 GiB a single Node read or write allows.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { officialCheckpoint } from '../../src/io/pth/official';
import { writePth } from '../../src/io/pth/write';
import { officialInitialState } from '../../src/models/init';
import { sparkState } from '../../src/models/official-names';
import { OFFICIAL_PRESETS, type OfficialPresetName, officialPreset } from '../../src/models/presets';
import { writeTrainerCheckpoint } from '../../src/train/checkpoint';

const [name, out, optimizer = 'lamb'] = process.argv.slice(2);
if (!name || !out || !(name in OFFICIAL_PRESETS) || (optimizer !== 'lamb' && optimizer !== 'adamw')) {
  console.error(
    `Usage: make-input.ts ARCH OUT.safetensors [lamb|adamw], ARCH one of ${Object.keys(OFFICIAL_PRESETS).join(', ')}`,
  );
  process.exit(2);
}
const config = officialPreset(name as OfficialPresetName);
const state = officialInitialState(config, 1);

// A 32-bit linear congruential generator: reproducible and cheap for ~200 M values.
let seed = 12345;
const next = (): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
};

const expAvg = new Map<string, Float32Array>();
const expAvgSq = new Map<string, Float32Array>();
for (const entry of sparkState(config)) {
  const values = state.get(entry.name);
  if (!values) throw new Error(`The initial state has no ${entry.name}.`);
  if (entry.name.endsWith('running_mean')) for (let i = 0; i < values.length; i++) values[i] = next() - 0.5;
  if (entry.name.endsWith('running_var')) for (let i = 0; i < values.length; i++) values[i] = 0.5 + next();
  if (entry.name.endsWith('num_batches_tracked')) values[0] = 7;
  if (entry.kind !== 'param') continue;
  const m = new Float32Array(values.length);
  const v = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    m[i] = (next() - 0.5) * 1e-3;
    v[i] = next() * 1e-6;
  }
  expAvg.set(entry.name, m);
  expAvgSq.set(entry.name, v);
}

const checkpoint = {
  config,
  progress: {
    runId: `official-check-${name}`,
    step: 7,
    totalSteps: 100,
    seed: 1,
    batch: 64,
    hyper: {
      optimizer: optimizer as 'lamb' | 'adamw',
      peakLr: 5e-5,
      warmupSteps: 10,
      weightDecayStart: 0.04,
      weightDecayEnd: 0.2,
      beta1: 0.9,
      beta2: config.backbone.family === 'resnet' ? 0.95 : 0.999,
      maxGradNorm: 5,
    },
    dataRngState: 1,
    maskRngState: 2,
    optimizerSteps: { decay: 7, noDecay: 7 },
  },
  state,
  expAvg,
  expAvgSq,
};
if (out.endsWith('.pth')) {
  const fd = openSync(out, 'w');
  let total = 0;
  for (const chunk of writePth(officialCheckpoint(checkpoint, { sbn: false, epoch: 2 }))) {
    for (let at = 0; at < chunk.byteLength; at += 2 ** 30) {
      const slice = chunk.subarray(at, Math.min(chunk.byteLength, at + 2 ** 30));
      writeSync(fd, slice);
    }
    total += chunk.byteLength;
  }
  closeSync(fd);
  console.log(`${out}: official-pth of ${name} with ${optimizer} state, ${total} bytes`);
} else {
  const bytes = writeTrainerCheckpoint(checkpoint);
  writeFileSync(out, bytes);
  console.log(`${out}: ${name} with ${optimizer} state, ${bytes.length} bytes`);
}
