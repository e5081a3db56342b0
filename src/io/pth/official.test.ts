import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SparkConfig } from '../../models/config';
import { sparkState } from '../../models/official-names';
import { OFFICIAL_PRESETS, type OfficialPresetName, officialPreset } from '../../models/presets';
import type { TrainerCheckpoint } from '../../train/checkpoint';
import { officialArchOf, officialCheckpoint, officialParamGroups, officialWarnings } from './official';
import { type PyTuple, type PyValue, unpickle } from './pickle-read';
import { pickleCheckpoint } from './write';

const manifestDir = join(__dirname, '../../../tests/fixtures/official-manifests');

interface Manifest {
  arch: string;
  input_size: number;
  config: Record<string, unknown>;
  module: [string, number[], string][];
  optimizer: {
    param_groups: { weight_decay_scale: number; lr_scale: number; params: string[] }[];
    state_keys_per_param: string[];
  };
  checkpoint_keys: string[];
}

/** Values for every tensor as views of one zero buffer: the layout is under test here, not the numbers. */
function shapeOnly(config: SparkConfig, step: number): TrainerCheckpoint {
  const entries = sparkState(config);
  const largest = Math.max(...entries.map((e) => e.shape.reduce((a, b) => a * b, 1)));
  const zeros = new Float32Array(largest);
  const view = (shape: number[]) =>
    zeros.subarray(
      0,
      shape.reduce((a, b) => a * b, 1),
    );
  const state = new Map(entries.map((e) => [e.name, e.dtype === 'I64' ? Float32Array.of(0) : view(e.shape)]));
  const params = entries.filter((e) => e.kind === 'param');
  return {
    config,
    progress: {
      runId: 'layout',
      step,
      totalSteps: 100,
      seed: 0,
      batch: 8,
      hyper: {
        optimizer: 'lamb',
        peakLr: 1e-4,
        warmupSteps: 1,
        weightDecayStart: 0.04,
        weightDecayEnd: 0.2,
        beta1: 0.9,
        beta2: 0.95,
        maxGradNorm: 5,
      },
      dataRngState: 1,
      maskRngState: 2,
      optimizerSteps: { decay: step, noDecay: step },
    },
    state,
    expAvg: new Map(params.map((e) => [e.name, view(e.shape)])),
    expAvgSq: new Map(params.map((e) => [e.name, view(e.shape)])),
  };
}

/** The pickle of the export, read back with the restricted unpickler (storages are not needed for layout). */
function exportedRoot(checkpoint: TrainerCheckpoint): Map<string, PyValue> {
  const { pickle } = pickleCheckpoint(officialCheckpoint(checkpoint, { sbn: false, epoch: 3 }));
  return unpickle(pickle, 'export').root as Map<string, PyValue>;
}

const DTYPE_NAMES: Record<string, string> = { F32: 'float32', I64: 'int64' };

describe('official checkpoint export against the manifests of the official code', () => {
  const names = readdirSync(manifestDir).filter((f) => f.endsWith('.json'));
  it('has a manifest and an official preset for each of the eight architectures', () => {
    expect(names.map((n) => n.replace('.json', '')).sort()).toEqual(Object.keys(OFFICIAL_PRESETS).sort());
  });

  for (const file of names) {
    const name = file.replace('.json', '') as OfficialPresetName;
    it(`${name}: module names, shapes, dtypes, config, optimizer groups and top-level keys equal the manifest`, () => {
      const manifest = JSON.parse(readFileSync(join(manifestDir, file), 'utf8')) as Manifest;
      const config = officialPreset(name);
      expect(officialArchOf(config)).toBe(manifest.arch);
      expect(officialWarnings(config)).toEqual([]);
      const root = exportedRoot(shapeOnly(config, 5));
      expect([...root.keys()]).toEqual(manifest.checkpoint_keys);
      expect(root.get('arch')).toBe(manifest.arch);
      expect(root.get('input_size')).toBe(manifest.input_size);
      expect(root.get('is_pretrain')).toBe(true);

      const module = root.get('module') as Map<string, PyValue>;
      const tensors = [...module].filter(([k]) => k !== 'config');
      const written = tensors.map(([k, t]) => {
        const ref = t as unknown as { shape: number[]; storage: { dtype: string } };
        return [k, ref.shape, DTYPE_NAMES[ref.storage.dtype]];
      });
      expect(written).toEqual(manifest.module);
      expect(Object.fromEntries(module.get('config') as Map<string, PyValue>)).toEqual(manifest.config);

      const optimizer = root.get('optimizer') as Map<string, PyValue>;
      const groups = optimizer.get('param_groups') as Map<string, PyValue>[];
      const state = optimizer.get('state') as Map<number, Map<string, PyValue>>;
      const idToName: string[] = [];
      manifest.optimizer.param_groups.forEach((g, i) => {
        expect(groups[i].get('weight_decay_scale')).toBe(g.weight_decay_scale);
        expect(groups[i].get('lr_scale')).toBe(g.lr_scale);
        expect(groups[i].get('step')).toBe(5);
        const ids = groups[i].get('params') as number[];
        expect(ids.length).toBe(g.params.length);
        idToName.push(...g.params);
      });
      expect(groups.length).toBe(manifest.optimizer.param_groups.length);
      expect(officialParamGroups(config).map((g) => g.names)).toEqual(
        manifest.optimizer.param_groups.map((g) => g.params),
      );
      // Ids are numbered group by group; each one's moments have the shape of the parameter it names.
      expect(groups.flatMap((g) => g.get('params') as number[])).toEqual(idToName.map((_, i) => i));
      const shapes = new Map(manifest.module.map(([n, s]) => [n, s]));
      for (const [id, entry] of state) {
        expect([...entry.keys()]).toEqual(manifest.optimizer.state_keys_per_param);
        expect((entry.get('exp_avg') as unknown as { shape: number[] }).shape).toEqual(
          shapes.get(idToName[id]),
        );
      }
      expect(state.size).toBe(idToName.length);
    });
  }

  it('a fresh optimizer (step 0) has no state and no group step, as before the official first step', () => {
    const root = exportedRoot(shapeOnly(officialPreset('resnet50-224'), 0));
    const optimizer = root.get('optimizer') as Map<string, PyValue>;
    expect((optimizer.get('state') as Map<number, PyValue>).size).toBe(0);
    const groups = optimizer.get('param_groups') as Map<string, PyValue>[];
    expect(groups.map((g) => g.has('step'))).toEqual([false, false]);
    expect((groups[0].get('betas') as PyTuple).items).toEqual([0.9, 0.95]);
  });

  it('says main.py cannot resume another densify norm (it overrides --densify_norm) and which names a custom encoder uses', () => {
    const resnet = { ...officialPreset('resnet50-224'), densifyNorm: 'ln' as const };
    const [densify] = officialWarnings(resnet);
    expect(densify).toMatch(/always uses the 'bn' densify norm .*overrides --densify_norm.*cannot resume it/);
    expect(densify).toMatch(/SparK class built with densify_norm='ln' loads it/);
    expect(densify).not.toMatch(/pass --densify_norm/);
    const customConvnext = {
      ...officialPreset('convnext_small-224'),
      backbone: { family: 'convnext' as const, dims: [8, 16, 32, 64], depths: [1, 1, 1, 1] },
    };
    expect(officialWarnings(customConvnext)[0]).toMatch(/the official ConvNeXt's names/);
  });

  it("warns when the run's drop path differs from the rate the official main.py uses", () => {
    const none = { ...officialPreset('resnet101-224'), dropPathRate: 0 };
    expect(officialWarnings(none)).toEqual([
      expect.stringMatching(
        /trained without drop path; the official main\.py always uses one for resnet101 \(0\.08/,
      ),
    ]);
    const other = { ...officialPreset('convnext_base-224'), dropPathRate: 0.1 };
    expect(officialWarnings(other)).toEqual([
      expect.stringMatching(/uses 0\.3 for convnext_base: pass --dp=0\.1/),
    ]);
  });
});
