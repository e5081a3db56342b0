/**
 * The GPU SparK model's public entry: the contract (./spark-contract.ts, documented there) and its factory
 * (./spark.ts). The implementation imports the contract, never this file, so no import cycle forms.
 */

export { createSparkModel } from './spark';
export type * from './spark-contract';
