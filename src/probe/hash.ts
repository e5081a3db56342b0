import type { SparkConfig } from '../models/config';
import { encoderState } from '../models/official-names';
import { encoderTensor } from './encoder';

/**
 * A fingerprint of a set of weights, so that a reader can check that the random arm starts from exactly the
 * weights the pre-training arms started from: FNV-1a over (name, float32 bytes) of each tensor in name
 * order, in two 32-bit lanes with different offsets (64 bits, hex). Not cryptographic.
 */
export function weightsHash(
  state: ReadonlyMap<string, ArrayLike<number>>,
  names?: readonly string[],
): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  const eat = (byte: number) => {
    a = Math.imul(a ^ byte, 0x01000193) >>> 0;
    b = Math.imul(b ^ byte, 0x01000193) >>> 0;
    b = (b ^ (b >>> 13)) >>> 0;
  };
  for (const name of [...(names ?? state.keys())].sort()) {
    const values = state.get(name);
    if (!values) throw new Error(`weightsHash: no tensor named ${name}.`);
    for (let i = 0; i < name.length; i++) eat(name.charCodeAt(i) & 0xff);
    const bytes = new Uint8Array(Float32Array.from(values).buffer);
    for (const byte of bytes) eat(byte);
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

/** Hash of the encoder tensors (official names) of a state: what `initHash` reports. */
export function encoderHash(config: SparkConfig, state: ReadonlyMap<string, ArrayLike<number>>): string {
  const names = encoderState(config)
    .filter((e) => e.kind === 'param' || e.dtype === 'F32')
    .map((e) => e.name);
  const encoderOnly = new Map(names.map((n) => [n, encoderTensor(state, n) ?? []] as const));
  return weightsHash(encoderOnly);
}
