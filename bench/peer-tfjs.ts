/**
 * `npm run bench -- peer-tfjs [--presets a,b] [--batch N] [--warmup N] [--rounds N] [--steps N]`: SparkLab
 * against the same SparK model written with TensorFlow.js, in one page of headless Chromium on one adapter
 * (bench/peer-tfjs/run.ts says what is timed; bench/page/launch.ts how the page is run). One JSON line per
 * preset.
 */
import { runInPage } from './page/launch';

/** src/cli/bench.ts starts no Node adapter for this benchmark: it runs in the browser. */
export const runsInPage = true;

export default async function bench(_gpu: unknown, args: string[]): Promise<void> {
  await runInPage('peer-tfjs', args);
}
