/**
 * `npm run parity -- [--backend NAME] [--verbose] FILE [FILE...]`
 *
 * Loads each official-format parity fixture, runs the backend (eval forward, train forward + backward, one
 * LAMB step) and compares every expected tensor with the fixture README's tolerances. Prints one line per
 * fixture with its worst tensor and relative error, then `parity: K/N fixtures passed`; exits 1 if any
 * fixture fails or cannot be read, 2 on a usage error.
 *
 * Backends are looked up by name: `gpu` (default) is the WebGPU model, `cpu` the float64 reference.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseFixture } from '../io/fixtures';
import { compareWithFixture, type ParityBackend } from '../io/parity';

export const PARITY_BACKENDS: Record<string, () => Promise<ParityBackend>> = {
  // The GPU model through Dawn (SwiftShader when no GPU is present); one device for the whole run.
  gpu: async () => {
    const [{ createNodeGpu }, { gpuParityBackend }] = await Promise.all([
      import('../gpu/node'),
      import('../models/parity-gpu'),
    ]);
    return gpuParityBackend(await createNodeGpu('parity'));
  },
  cpu: async () => (await import('../reference/spark/backend')).cpuReferenceBackend,
};

export const DEFAULT_BACKEND = 'gpu';

export interface ParityCliOutcome {
  passed: number;
  total: number;
  lines: string[];
}

/** Runs the check and returns the printed lines (the CLI prints them as they come through `log`). */
export async function runParity(
  files: string[],
  backendName = DEFAULT_BACKEND,
  options: { verbose?: boolean; log?: (line: string) => void } = {},
): Promise<ParityCliOutcome> {
  const lines: string[] = [];
  const log = (line: string) => {
    lines.push(line);
    options.log?.(line);
  };
  const makeBackend = PARITY_BACKENDS[backendName];
  if (!makeBackend)
    throw new Error(
      `Unknown parity backend '${backendName}'; available: ${Object.keys(PARITY_BACKENDS).join(', ')}.`,
    );
  const backend = await makeBackend();
  let passed = 0;
  for (const file of files) {
    const name = basename(file);
    let report: ReturnType<typeof compareWithFixture>;
    const start = performance.now();
    let fixture: ReturnType<typeof parseFixture>;
    try {
      fixture = parseFixture(new Uint8Array(readFileSync(file)), name);
    } catch (error) {
      log(`FAIL ${name}: cannot read the fixture: ${(error as Error).message}`);
      continue;
    }
    try {
      report = compareWithFixture(fixture, await backend.run(fixture));
    } catch (error) {
      log(`FAIL ${name}: the ${backend.name} backend failed: ${(error as Error).message}`);
      continue;
    }
    const seconds = ((performance.now() - start) / 1000).toFixed(1);
    const w = report.worst;
    const failed = report.comparisons.filter((c) => !c.ok);
    if (report.ok) {
      passed++;
      log(
        `PASS ${name}: worst ${w.name} rel ${w.relError.toExponential(2)} (${report.comparisons.length} tensors, ${backend.name}, ${seconds}s)`,
      );
    } else {
      log(
        `FAIL ${name}: worst ${w.name} rel ${w.relError.toExponential(2)}${w.message ? ` (${w.message})` : ''}; ${failed.length} of ${report.comparisons.length} tensors out of tolerance (${backend.name}, ${seconds}s)`,
      );
    }
    if (options.verbose || !report.ok)
      for (const c of options.verbose ? report.comparisons : failed)
        log(
          `  ${c.ok ? 'ok  ' : 'BAD '} ${c.name} rel ${c.relError.toExponential(2)} abs ${c.maxAbsError.toExponential(2)}${c.message ? ` ${c.message}` : ''}`,
        );
  }
  log(`parity: ${passed}/${files.length} fixtures passed`);
  return { passed, total: files.length, lines };
}

function usage(message: string): never {
  console.error(
    `${message}\nusage: npm run parity -- [--backend ${Object.keys(PARITY_BACKENDS).join('|')}] [--verbose] FILE [FILE...]`,
  );
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const files: string[] = [];
  let backend = DEFAULT_BACKEND;
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--backend') {
      backend = argv[++i] ?? usage('--backend needs a name.');
      if (!PARITY_BACKENDS[backend]) usage(`Unknown backend '${backend}'.`);
    } else if (arg.startsWith('--backend=')) {
      backend = arg.slice('--backend='.length);
      if (!PARITY_BACKENDS[backend]) usage(`Unknown backend '${backend}'.`);
    } else if (arg === '--verbose' || arg === '-v') verbose = true;
    else if (arg.startsWith('-')) usage(`Unknown option ${arg}.`);
    else files.push(arg);
  }
  if (files.length === 0) usage('Give at least one fixture file.');
  const outcome = await runParity(files, backend, { verbose, log: (line) => console.log(line) });
  process.exit(outcome.passed === outcome.total ? 0 : 1);
}

// Run only as the entry point, so tests can import runParity.
if (process.argv[1] && /parity\.ts$/.test(process.argv[1])) await main(process.argv.slice(2));
