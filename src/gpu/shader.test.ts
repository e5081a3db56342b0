import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { composeShader, uniformStruct, wgslFieldName } from './shader';

const Example = uniformStruct(
  'ExampleParams',
  { rows: 'u32', rowsPerSlice: 'u32', offset: 'i32', alpha: 'f32', hasBias: 'u32' },
  { alpha: 1, hasBias: false },
);

describe('uniformStruct', () => {
  it('writes the WGSL struct in declaration order with snake_case names', () => {
    expect(Example.wgsl).toBe(
      'struct ExampleParams {\n  rows: u32,\n  rows_per_slice: u32,\n  offset: i32,\n  alpha: f32,\n  has_bias: u32,\n}\n',
    );
    expect(wgslFieldName('kChunk')).toBe('k_chunk');
    expect(wgslFieldName('src_h')).toBe('src_h');
  });

  it('packs 4-byte fields in the same order, with defaults, booleans as 0/1 and 16-byte padding', () => {
    const view = new DataView(Example.pack({ rows: 7, rowsPerSlice: 64, offset: -3, hasBias: true }).bytes());
    expect(view.byteLength).toBe(32);
    expect(view.getUint32(0, true)).toBe(7);
    expect(view.getUint32(4, true)).toBe(64);
    expect(view.getInt32(8, true)).toBe(-3);
    expect(view.getFloat32(12, true)).toBe(1);
    expect(view.getUint32(16, true)).toBe(1);
    const explicit = new DataView(Example.pack({ rows: 1, rowsPerSlice: 2, offset: 0, alpha: 0.5 }).bytes());
    expect(explicit.getFloat32(12, true)).toBe(0.5);
    expect(explicit.getUint32(16, true)).toBe(0);
  });

  it('rejects a missing required field and out-of-range values at run time', () => {
    // @ts-expect-error rowsPerSlice has no default
    expect(() => Example.pack({ rows: 1, offset: 0 })).toThrow(/rowsPerSlice/);
    expect(() => Example.pack({ rows: -1, rowsPerSlice: 0, offset: 0 })).toThrow(RangeError);
  });

  it('makes a misspelt field a type error', () => {
    // @ts-expect-error `rowsPerSlcie` is not a field of ExampleParams
    const params = Example.pack({ rows: 1, rowsPerSlcie: 2, rowsPerSlice: 2, offset: 0 });
    expect(params.bytes().byteLength).toBe(32);
  });
});

describe('composeShader', () => {
  it('joins the parts in order, one newline-terminated part after another', () => {
    expect(composeShader('fn a() {}', 'fn b() {}\n')).toBe('fn a() {}\n\nfn b() {}\n');
  });
});

describe('declared uniforms', () => {
  it('leaves no hand-written uniform struct in shaders/ (each is declared once, in TypeScript)', () => {
    const root = fileURLToPath(new URL('../../shaders/', import.meta.url));
    const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.wgsl'));
    expect(files.length).toBeGreaterThan(20);
    const handWritten: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(root, file), 'utf8');
      // Every `var<uniform> name: Type` must name a type that the file itself does not declare.
      for (const match of text.matchAll(/var<uniform>\s+\w+\s*:\s*(\w+)/g)) {
        if (new RegExp(`struct\\s+${match[1]}\\b`).test(text)) handWritten.push(`${file}: ${match[1]}`);
      }
    }
    expect(handWritten).toEqual([]);
  });
});
