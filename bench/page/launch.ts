/**
 * Runs a bench-page benchmark (./registry.ts) from Node: serves the repository with Vite's dev server, opens
 * bench/page/index.html in headless Chromium with WebGPU (the flags of tests/e2e/run-e2e.mjs: Debian's
 * chromium on Vulkan, SwiftShader when there is no GPU; plus timestamp quantisation off) and prints each JSON record the page emits as one line.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createServer } from 'vite';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  // Full-resolution timestamps for the step profiler (Chromium quantises them to 100 µs by default).
  '--enable-dawn-features=allow_unsafe_apis',
  '--disable-dawn-features=timestamp_quantization',
];

/** Runs `name` in the page; calls `onRecord` for each record as it arrives and returns them all. */
export async function runInPage(
  name: string,
  args: string[],
  onRecord: (record: Record<string, unknown>) => void = (r) => console.log(JSON.stringify(r)),
): Promise<Record<string, unknown>[]> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `No browser at ${CHROMIUM}: install Debian's chromium (sudo apt-get install -y chromium) or set CHROMIUM_PATH.`,
    );
  const server = await createServer({
    root: ROOT,
    configFile: join(ROOT, 'vite.config.ts'),
    logLevel: 'warn',
    server: { host: '127.0.0.1', port: 4327, strictPort: false, hmr: false },
    // Pre-bundled before the page loads, so that Vite never reloads the page mid-benchmark.
    optimizeDeps: {
      entries: ['bench/page/index.html'],
      include: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu'],
    },
  });
  await server.listen();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
  try {
    const page = await browser.newPage();
    const records: Record<string, unknown>[] = [];
    page.on('console', (message) => {
      const text = message.text();
      // Records: the page's own (prefixed) and the JSON lines Node benchmarks print (bench/harness.ts emit).
      const json = text.startsWith('BENCH ') ? text.slice(6) : text.startsWith('{"case"') ? text : null;
      if (json) {
        const record = JSON.parse(json) as Record<string, unknown>;
        records.push(record);
        onRecord(record);
      } else if (
        (message.type() === 'error' || message.type() === 'warning') &&
        !text.includes('favicon') &&
        !/status of 404/.test(text)
      )
        console.error(`page: ${text}`);
    });
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
    const url = `${server.resolvedUrls?.local[0] ?? 'http://127.0.0.1:4327/'}bench/page/index.html`;
    await page.goto(url);
    await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 120_000 });
    await page.evaluate(
      ([n, a]) => {
        const api = window.sparklabBench;
        if (!api) throw new Error('The bench page did not start.');
        return api.run(n, a).then(() => undefined);
      },
      [name, args] as [string, string[]],
    );
    return records;
  } finally {
    await browser.close();
    await server.close();
  }
}
