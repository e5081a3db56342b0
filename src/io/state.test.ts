import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { ENCODER_PREFIX, encoderState, sparkState } from '../models/official-names';
import { parseFixture } from './fixtures';
import { openSafetensors, parseSafetensorsHeader, readSafetensors } from './safetensors';
import {
  checkFileSize,
  checkStateHeader,
  exportEncoderTimm,
  loadEncoderTimm,
  loadState,
  StateError,
  saveState,
  stateDataBytes,
} from './state';

const fixture = parseFixture(
  new Uint8Array(
    readFileSync(join(__dirname, '../../tests/fixtures/official/resnet-basic-s8-in32.safetensors')),
  ),
  'resnet-basic-s8-in32',
);
const config = fixture.config.spark;
const values = new Map([...fixture.state].map(([name, t]) => [name, t.data]));

describe('state checkpoints under official names', () => {
  it('save → load round-trips every parameter and buffer, num_batches_tracked as int64', () => {
    const bytes = saveState(config, values, { step: '12' });
    const raw = readSafetensors(bytes);
    expect(raw.tensors.get('sparse_encoder.sp_cnn.bn1.num_batches_tracked')!.dtype).toBe('I64');
    expect(raw.tensors.get('sparse_encoder.sp_cnn.conv1.weight')!.dtype).toBe('F32');
    expect(raw.metadata.step).toBe('12');
    const { values: back, metadata } = loadState(config, bytes);
    expect(JSON.parse(metadata.config)).toEqual(config);
    expect([...back.keys()].sort()).toEqual(
      sparkState(config)
        .map((e) => e.name)
        .sort(),
    );
    for (const [name, v] of values)
      expect(Array.from(back.get(name)!)).toEqual(Array.from(Float32Array.from(v)));
  });

  it('refuses a checkpoint of another configuration, naming the first difference', () => {
    const bytes = saveState(config, values);
    const wider = { ...config, decoderWidth: 64 };
    expect(() => loadState(wider, bytes, 'ckpt.safetensors')).toThrow(StateError);
    expect(() => loadState(wider, bytes, 'ckpt.safetensors')).toThrow(
      /has shape \[.*\] but this model needs/,
    );
    const zeros = { ...config, maskToken: 'zeros' as const };
    expect(() => loadState(zeros, bytes, 'ckpt.safetensors')).toThrow(/does not have, e.g. mask_tokens/);
    expect(
      loadState(zeros, bytes, 'ckpt.safetensors', { ignoreUnexpected: true }).values.has('mask_tokens.0'),
    ).toBe(false);
    expect(() => loadState(config, bytes.slice(0, 100), 'cut.safetensors')).toThrow(StateError);
  });

  it('exports the encoder under timm names and reads it back under SparK names', () => {
    const bytes = exportEncoderTimm(config, values);
    const names = [...readSafetensors(bytes).tensors.keys()];
    expect(names).toContain('conv1.weight');
    expect(names).toContain('layer1.0.downsample.1.num_batches_tracked');
    expect(names.some((n) => n.startsWith('densify') || n.startsWith('dense_decoder'))).toBe(false);
    expect(names).toHaveLength(encoderState(config).length);
    const back = loadEncoderTimm(config, bytes);
    for (const e of encoderState(config)) {
      expect(e.name.startsWith(ENCODER_PREFIX)).toBe(true);
      expect(Array.from(back.get(e.name)!)).toEqual(Array.from(Float32Array.from(values.get(e.name)!)));
    }
  });

  it('checks names and shapes against the model from the header alone, before the data is read', () => {
    const bytes = saveState(config, values);
    const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = parseSafetensorsHeader(bytes.subarray(0, headerEnd), bytes.byteLength, 'head-only');
    expect(() => checkStateHeader(sparkState(config), header, 'head-only')).not.toThrow();
    const wider = { ...config, decoderWidth: 64 };
    expect(() => checkStateHeader(sparkState(wider), header, 'head-only')).toThrow(/this model needs/);
  });

  it('loads from a reader opened once, without parsing the file again', () => {
    const bytes = saveState(config, values);
    const reader = openSafetensors(bytes, 'once');
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const { values: back } = loadState(config, reader, 'once');
      expect(back.size).toBe(sparkState(config).length);
      // The config metadata is a string; nothing in loading re-reads the header.
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
  });

  it('refuses a file far larger than the model from its size alone', () => {
    const dataBytes = stateDataBytes(config);
    const actual = saveState(config, values).byteLength;
    expect(() => checkFileSize(actual, dataBytes, 'ok')).not.toThrow();
    expect(() => checkFileSize(2 ** 31, dataBytes, 'video.safetensors')).toThrow(
      /video.safetensors is 2048.0 MiB, far more than/,
    );
  });
});
