import fc from 'fast-check';

/**
 * Property tests draw from one seed per run so that CI is reproducible and a failure can be replayed:
 * FC_SEED=<seed> npx vitest run … explores other inputs (fast-check prints the seed of any failure).
 */
const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 20261126;
fc.configureGlobal({ seed });
