/**
 * Runs a fuzz target: seeded mutations of its seed files, each through the target's readers, counting what
 * was accepted and refused (by error kind) and recording every crash (an error the reader does not promise)
 * with the iteration that reproduces it. Peak resident memory is sampled after every input.
 */
import { FuzzRng } from './mutate';
import type { FuzzTarget } from './targets';

export interface FuzzCrash {
  iteration: number;
  inputBytes: number;
  error: string;
}

export interface FuzzReport {
  target: string;
  seed: number;
  iterations: number;
  /** Seed files the target accepts as they are. */
  seedsAccepted: number;
  accepted: number;
  refused: number;
  /** Refusals per error name (or per reason class for images). */
  refusedBy: Record<string, number>;
  crashes: FuzzCrash[];
  peakRssBytes: number;
  largestInputBytes: number;
  seconds: number;
}

export interface FuzzOptions {
  iterations: number;
  seed: number;
  /** Called every `every` iterations with the report so far (long runs print progress). */
  onProgress?: (report: FuzzReport) => void;
  every?: number;
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}\n${error.stack ?? ''}`;
  return String(error);
}

/** The input of one iteration, reproducible from (seed, iteration) alone. */
export function fuzzInput(
  target: FuzzTarget,
  seeds: readonly Uint8Array[],
  seed: number,
  iteration: number,
): Uint8Array {
  const rng = new FuzzRng((seed * 0x9e3779b1 + iteration * 0x85ebca6b) >>> 0);
  return target.mutate(rng, seeds[rng.int(seeds.length)]);
}

export async function runFuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzReport> {
  const seeds = await target.seeds();
  const started = performance.now();
  const report: FuzzReport = {
    target: target.name,
    seed: options.seed,
    iterations: 0,
    seedsAccepted: 0,
    accepted: 0,
    refused: 0,
    refusedBy: {},
    crashes: [],
    peakRssBytes: process.memoryUsage.rss(),
    largestInputBytes: 0,
    seconds: 0,
  };
  // The seeds themselves must not crash (a target whose seeds are refused, like the .pth reader's files without
  // a SparK model, still exercises its parser on every mutation).
  for (const seedFile of seeds) {
    try {
      const outcome = await target.run(seedFile);
      if (outcome === 'accepted') report.seedsAccepted++;
    } catch (error) {
      const expected = error instanceof Error && target.expectedErrors.has(error.name);
      if (!expected)
        report.crashes.push({ iteration: -1, inputBytes: seedFile.length, error: describeError(error) });
    }
  }
  for (let i = 0; i < options.iterations; i++) {
    const input = fuzzInput(target, seeds, options.seed, i);
    report.largestInputBytes = Math.max(report.largestInputBytes, input.length);
    try {
      const outcome = await target.run(input);
      if (outcome === 'accepted') report.accepted++;
      else {
        report.refused++;
        report.refusedBy.reason = (report.refusedBy.reason ?? 0) + 1;
      }
    } catch (error) {
      const name = error instanceof Error ? error.name : typeof error;
      if (error instanceof Error && target.expectedErrors.has(name) && error.message.length > 0) {
        report.refused++;
        report.refusedBy[name] = (report.refusedBy[name] ?? 0) + 1;
      } else {
        report.crashes.push({ iteration: i, inputBytes: input.length, error: describeError(error) });
      }
    }
    report.iterations = i + 1;
    if ((i & 63) === 0) report.peakRssBytes = Math.max(report.peakRssBytes, process.memoryUsage.rss());
    if (options.onProgress && options.every && (i + 1) % options.every === 0) {
      report.seconds = (performance.now() - started) / 1000;
      options.onProgress(report);
    }
  }
  report.peakRssBytes = Math.max(report.peakRssBytes, process.memoryUsage.rss());
  report.seconds = (performance.now() - started) / 1000;
  return report;
}
