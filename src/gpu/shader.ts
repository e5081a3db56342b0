/**
 * Shader composition and declared uniforms.
 *
 * WGSL has no `#include`. A kernel is a module made by concatenating source texts: generated declarations
 * (uniform structs) first, then library files from shaders/lib/ (no entry points), then the family's and the
 * op's own files. WGSL resolves module-scope names regardless of order, so a library function may call a hook
 * (e.g. `gemm_load_a`) that only the op file defines. The pipeline cache (`Gpu.kernel`) keys on the composed
 * text, so two ops composed from the same parts share one pipeline.
 *
 * A uniform struct is declared once in TypeScript (`uniformStruct`): its WGSL text and its typed packer both
 * come from that one declaration, so a misspelt field is a type error and the two can never disagree.
 */
import { type BindingLayout, bindingDeclarations, Params } from './runtime';

/** Concatenates WGSL sources into one module (each part ends on a newline; order does not matter to WGSL). */
export function composeShader(...parts: readonly string[]): string {
  return parts.map((part) => (part.endsWith('\n') ? part : `${part}\n`)).join('\n');
}

/**
 * A kernel family's module: its uniform struct, the storage declarations of the layouts its entry points use
 * (a list, or a record of layouts by entry point), then library and family sources.
 */
export function familyModule(
  uniforms: { readonly wgsl: string },
  layouts: readonly BindingLayout[] | Readonly<Record<string, BindingLayout>>,
  ...sources: readonly string[]
): string {
  return composeShader(uniforms.wgsl, bindingDeclarations(...Object.values(layouts)), ...sources);
}

export type UniformFieldType = 'u32' | 'i32' | 'f32';

/** The host value of one field: a number, or for u32 flags also a boolean (written as 1 / 0). */
type FieldValue<T extends UniformFieldType> = T extends 'u32' ? number | boolean : number;

export type UniformValues<F extends Record<string, UniformFieldType>> = { [K in keyof F]: FieldValue<F[K]> };

/** Fields with a default may be left out when packing; all others are required. */
type PackInput<F extends Record<string, UniformFieldType>, D extends Partial<UniformValues<F>>> = Omit<
  UniformValues<F>,
  keyof D
> &
  Partial<UniformValues<F>>;

export interface UniformStruct<
  F extends Record<string, UniformFieldType>,
  D extends Partial<UniformValues<F>> = Record<never, never>,
> {
  readonly name: string;
  readonly fields: F;
  /** `struct Name { field_name: u32, ... }`: camelCase TypeScript names become snake_case WGSL names. */
  readonly wgsl: string;
  /** The uniform bytes for these values, in declaration order (fields not given take their default). */
  pack(values: PackInput<F, D>): Params;
}

/** camelCase → snake_case (WGSL style); names that are already snake_case stay as they are. */
export function wgslFieldName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Declares a uniform struct of 4-byte scalars once. `fields` gives names (camelCase) and types in declaration
 * order; `defaults` the values of fields a caller may leave out.
 */
export function uniformStruct<
  const F extends Record<string, UniformFieldType>,
  const D extends Partial<UniformValues<F>> = Record<never, never>,
>(name: string, fields: F, defaults?: D): UniformStruct<F, D> {
  const entries = Object.entries(fields) as Array<[keyof F & string, UniformFieldType]>;
  const wgsl = `struct ${name} {\n${entries.map(([field, type]) => `  ${wgslFieldName(field)}: ${type},`).join('\n')}\n}\n`;
  return {
    name,
    fields,
    wgsl,
    pack(values) {
      const given = values as Partial<Record<string, number | boolean>>;
      const fallback = (defaults ?? {}) as Partial<Record<string, number | boolean>>;
      const params = new Params();
      for (const [field, type] of entries) {
        const raw = given[field] ?? fallback[field];
        if (raw === undefined) throw new RangeError(`${name}.${field}: no value given and no default.`);
        const value = typeof raw === 'boolean' ? (raw ? 1 : 0) : raw;
        if (type === 'u32') params.u32(value);
        else if (type === 'i32') params.i32(value);
        else params.f32(value);
      }
      return params;
    },
  };
}
