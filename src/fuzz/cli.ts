/**
 * `npm run fuzz -- --target weights|checkpoint|images [--iterations N] [--seed S]`
 *
 * Long fuzz runs of the readers of untrusted input (CI runs the same targets at a small size in
 * src/fuzz/fuzz.test.ts). Prints progress and a final JSON report: inputs accepted and refused (per error
 * kind), crashes with the iteration that reproduces each (same --seed), peak resident memory. Exit status 1
 * when anything crashed. `--target giants` instead measures the time and memory of refusing the largest
 * hostile inputs (huge declared sizes and headers).
 */
import { refuseGiants } from './giants';
import { runFuzz } from './runner';
import { FUZZ_TARGETS } from './targets';

function flag(argv: string[], name: string, fallback: string): string {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < argv.length ? argv[at + 1] : fallback;
}

async function main(argv: string[]): Promise<number> {
  const targetName = flag(argv, 'target', 'weights');
  const iterations = Number(flag(argv, 'iterations', '10000'));
  const seed = Number(flag(argv, 'seed', '1'));
  if (targetName === 'giants') {
    for (const line of await refuseGiants()) process.stdout.write(`${JSON.stringify(line)}\n`);
    return 0;
  }
  const target = FUZZ_TARGETS[targetName];
  if (!target || !Number.isSafeInteger(iterations) || iterations < 1 || !Number.isSafeInteger(seed)) {
    process.stderr.write(
      `Usage: npm run fuzz -- --target ${[...Object.keys(FUZZ_TARGETS), 'giants'].join('|')} --iterations N --seed S\n`,
    );
    return 2;
  }
  const report = await runFuzz(target, {
    iterations,
    seed,
    every: Math.max(1000, Math.round(iterations / 20)),
    onProgress: (r) =>
      process.stderr.write(
        `${r.target}: ${r.iterations}/${iterations} accepted ${r.accepted} refused ${r.refused} crashes ${r.crashes.length} (${r.seconds.toFixed(0)} s)\n`,
      ),
  });
  const { crashes, ...summary } = report;
  process.stdout.write(
    `${JSON.stringify({ ...summary, peakRssMiB: +(report.peakRssBytes / 2 ** 20).toFixed(1), crashes: crashes.length })}\n`,
  );
  for (const crash of crashes.slice(0, 20)) process.stdout.write(`${JSON.stringify(crash)}\n`);
  return crashes.length > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
