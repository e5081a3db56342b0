/**
 * `npm run bench -- NAME [args]`: runs bench/NAME.ts on the Node adapter (Dawn), or in headless Chromium's
 * bench page (bench/page) for in-browser benchmarks and with `--page`. Each benchmark prints one JSON object
 * per line; this entry only finds the adapter and the module.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNodeGpu } from '../gpu/node';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '../../bench');
const available = readdirSync(benchDir)
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_') && f !== 'harness.ts')
  .map((f) => f.slice(0, -3));
const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- NAME [args]   where NAME is one of: ${available.join(', ')}`);
  process.exit(2);
}
const modulePath = join(benchDir, `${name}.ts`);
if (!existsSync(modulePath)) throw new Error(`missing ${modulePath}`);
// In-browser benchmarks (bench/page): `runsInPage` ones always, any other one with --page.
const pageModule = (await import(modulePath)) as { runsInPage?: boolean };
if (pageModule.runsInPage || args.includes('--page')) {
  const { runInPage } = await import('../../bench/page/launch');
  await runInPage(
    name,
    args.filter((a) => a !== '--page'),
  );
  process.exit(0);
}
const gpu = await createNodeGpu('bench');
if (gpu.summary.isSoftware) {
  console.error(
    `note: ${gpu.label} is a software adapter; compare ratios from one run, never absolute times.`,
  );
}
const bench = (await import(modulePath)) as { default: (g: typeof gpu, a: string[]) => Promise<void> };
await bench.default(gpu, args);
gpu.destroy();
