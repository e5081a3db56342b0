import type { Gpu } from '../src/gpu/runtime';
import type { StepBenchOptions } from './step';

export async function runStepProfile(_gpu: Gpu, _options: StepBenchOptions): Promise<void> {
  throw new Error('The step profiler is not written yet.');
}

/** `npm run bench -- profile-step …` is `npm run bench -- step --profile …`. */
export default async function bench(gpu: Gpu, args: string[]): Promise<void> {
  const { default: step } = await import('./step');
  await step(gpu, [...args, '--profile']);
}
