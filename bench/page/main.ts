/**
 * The bench page (bench/page/index.html): benchmarks that must run in a browser (the TF.js peer) or that
 * are timed there as well as in Node (the step benchmark). The Node launcher (./launch.ts) opens it in
 * headless Chromium and calls `window.sparklabBench.run(name, args)`; each JSON record the benchmark emits is
 * handed to the launcher as it comes (console) and returned at the end.
 */
import { acquireDevice } from '../../src/gpu/device';
import { Gpu } from '../../src/gpu/runtime';
import { PAGE_BENCHMARKS } from './registry';

export interface BenchPageApi {
  /** Names the page can run. */
  names: string[];
  run(name: string, args: string[]): Promise<Record<string, unknown>[]>;
}

declare global {
  interface Window {
    sparklabBench?: BenchPageApi;
  }
}

const log = document.getElementById('log');

window.sparklabBench = {
  names: Object.keys(PAGE_BENCHMARKS),
  async run(name, args) {
    const bench = PAGE_BENCHMARKS[name];
    if (!bench)
      throw new Error(
        `The bench page has no benchmark "${name}"; it has ${Object.keys(PAGE_BENCHMARKS).join(', ')}.`,
      );
    const gpu = new Gpu(await acquireDevice(navigator.gpu, { host: 'browser' }), 'bench-page');
    const records: Record<string, unknown>[] = [];
    try {
      await bench(gpu, args, (record) => {
        records.push(record);
        const line = JSON.stringify(record);
        if (log) log.textContent += `${line}\n`;
        console.log(`BENCH ${line}`);
      });
    } finally {
      gpu.destroy();
    }
    return records;
  },
};
document.body.dataset.ready = 'true';
