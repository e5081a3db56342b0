/**
 * `npm run soak -- --minutes 60 [--report-seconds 30] [--image-size 16]` (not part of CI)
 *
 * Drives the real training worker (src/worker/trainer-worker.ts, Node host: Dawn device, memory checkpoint
 * store, Fashion-MNIST) the way a watched page does: training with snapshots every second, an export every
 * 10 s and a mask-ratio change every 20 s, periodic checkpoints. Every report interval it prints one JSON
 * line with the step, the runtime's live GPU buffers (count, bytes), the pooled bytes and the process memory
 * (RSS, heap). A final line compares the last report with the first one after warm-up: the GPU figures must
 * stay flat (exit code 1 otherwise); memory is reported for the reader to judge.
 */
import { fashionMnistDatasetNode } from '../../src/data/builtin-node';
import { createNodeGpu } from '../../src/gpu/node';
import type { Gpu } from '../../src/gpu/runtime';
import { MemoryCheckpointStore } from '../../src/io/checkpoint-store';
import type { RunConfig, WorkerEvent } from '../../src/worker/protocol';
import { TrainerWorker } from '../../src/worker/trainer-worker';

function option(argv: string[], name: string, fallback: number): number {
  const at = argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number.`);
  return value;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(argv: string[]): Promise<number> {
  const minutes = option(argv, 'minutes', 60);
  const reportSeconds = option(argv, 'report-seconds', 30);
  const imageSize = option(argv, 'image-size', 16);
  let gpu: Gpu | undefined;
  const worker = new TrainerWorker({
    createGpu: async () => {
      gpu = await createNodeGpu('soak');
      return gpu;
    },
    store: new MemoryCheckpointStore(),
    loadDataset: (config, size) =>
      fashionMnistDatasetNode({ imageSize: size, normalization: config.normalization }),
    decodeImage: async () => {
      throw new Error('The soak test uses no images of its own.');
    },
  });
  const failures: string[] = [];
  await worker.subscribe((event: WorkerEvent) => {
    if (event.type === 'error' || event.type === 'warning') failures.push(`${event.type}: ${event.message}`);
  });
  const run: RunConfig = {
    preset: 'tiny',
    model: { inputSize: imageSize },
    data: { kind: 'fashion-mnist' },
    batchSize: 4,
    steps: 10_000_000,
    seed: 0,
    // Short read-back intervals keep the GPU queue shallow, so that a snapshot, an export or a ratio change
    // waits for a few steps, not twenty (as the page does on software adapters).
    metricsEvery: 2,
    checkpointEvery: 200,
  };
  await worker.configure(run);
  await worker.start();

  const started = performance.now();
  const end = started + minutes * 60_000;
  let nextReport = started + reportSeconds * 1000;
  let lastExport = started;
  let lastRatioChange = started;
  let ratio = 0.6;
  let snapshots = 0;
  let exports = 0;
  let ratioChanges = 0;
  const reports: Record<string, number>[] = [];
  while (performance.now() < end && failures.length === 0) {
    await sleep(1000);
    const shot = await worker.snapshot(4);
    snapshots++;
    const now = performance.now();
    if (now - lastExport >= 10_000) {
      await worker.exportWeights();
      exports++;
      lastExport = now;
    }
    if (now - lastRatioChange >= 20_000) {
      ratio = ratio === 0.6 ? 0.75 : 0.6;
      await worker.setMaskRatio(ratio);
      ratioChanges++;
      lastRatioChange = now;
    }
    if (now >= nextReport) {
      nextReport += reportSeconds * 1000;
      const live = gpu?.liveBuffers() ?? { count: 0, bytes: 0, pooledBytes: 0 };
      const memory = process.memoryUsage();
      const report = {
        minutes: Number(((now - started) / 60_000).toFixed(2)),
        step: shot.step,
        maskRatio: ratio,
        liveBuffers: live.count,
        liveMiB: Number((live.bytes / 2 ** 20).toFixed(2)),
        pooledMiB: Number((live.pooledBytes / 2 ** 20).toFixed(2)),
        rssMiB: Number((memory.rss / 2 ** 20).toFixed(1)),
        heapMiB: Number((memory.heapUsed / 2 ** 20).toFixed(1)),
        snapshots,
        exports,
        ratioChanges,
      };
      reports.push(report);
      process.stdout.write(`${JSON.stringify(report)}\n`);
    }
  }
  await worker.pause();
  // The first report is the warm-up (every kind of work done at least once by then, pools filled). The two
  // mask ratios size the sparse buffers differently, so reports are compared with those of the same ratio.
  const settled = reports.slice(1);
  const first = settled[0];
  const last = settled.at(-1);
  const flat =
    settled.length > 0 &&
    [0.6, 0.75].every((r) => {
      const same = settled.filter((report) => report.maskRatio === r);
      const a = same[0];
      const b = same.at(-1);
      return !a || !b || (a.liveBuffers === b.liveBuffers && a.liveMiB === b.liveMiB);
    }) &&
    settled.every((report) => report.pooledMiB <= 64);
  process.stdout.write(
    `${JSON.stringify({ summary: true, flat, failures, adapter: gpu?.label, first, last })}\n`,
  );
  return flat && failures.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
