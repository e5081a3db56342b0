/**
 * Layering rules checked by `npm run check:cycles` (part of `npm test`), with type-only imports counted:
 * an `import type` cycle still ties two modules together for whoever changes one of them.
 * A test (src/layering.test.ts) plants a violation in a copy of src/ and sees this check fail.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'Modules of src/ must not import each other in a circle, type-only imports included.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'train-not-worker',
      severity: 'error',
      comment: 'src/train/ owns its types; the worker maps them, never the other way round.',
      from: { path: '^src/train/' },
      to: { path: '^src/worker/' },
    },
    {
      name: 'prng-not-from-reference',
      severity: 'error',
      comment: 'Production code takes its PRNG from src/util/random.ts, not from the float64 reference.',
      from: { path: '^src/', pathNot: ['^src/reference/', '\\.test\\.ts$'] },
      to: { path: '^src/reference/random\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.wgsl' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.mjs'] },
  },
};
