/**
 * The PRNG lives in src/util/random.ts (production code uses it too). This re-export keeps the kernel tests
 * under src/engine/ compiling while that folder is restructured on another branch; new code imports
 * src/util/random.ts, and the layering check (.dependency-cruiser.cjs) refuses this path outside tests.
 */
export { Rng } from '../util/random';
