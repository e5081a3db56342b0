/**
 * `npm run probe -- --preset tiny --data fashion --pretrain-steps 150 --arms random,sparse,dense-zero
 *  --protocols knn,linear --seed 0 --json`
 *
 * Does the pre-training help? Pre-trains each SparK arm (or loads --checkpoint), extracts the frozen
 * encoder's pooled features of the labelled probe splits once per arm, and scores k-NN and the linear probe
 * against random initialisation, with a label-shuffled control and the chance level (src/probe/run.ts,
 * docs/PROBE.md). A progress bar on a terminal; JSON lines with --json or when piped: one `result` line per
 * (arm, protocol) as it is known, and a final line with `results` (arm → protocol → {accuracy, samples}),
 * `probeTrain`, `probeTest`, `chance`, `shuffledControl` and `initHash`.
 */
import { skipMessage } from '../data/image-set';
import { createNodeGpu } from '../gpu/node';
import { PRESET_TRAINING, PRESETS, type PresetName, preset } from '../models/presets';
import { fashionProbeNode, folderProbeNode } from '../probe/data-node';
import { runProbe } from '../probe/run';
import { validateTrainingSetup } from '../train/trainer';
import { ArgsError } from './args';
import { initialWeights, modelConfig, readWeights } from './model-options';
import { PROBE_USAGE, parseProbeArgs } from './probe-args';
import { Progress } from './progress';

async function main(argv: string[]): Promise<number> {
  const args = parseProbeArgs(argv, Object.keys(PRESETS));
  if (args.help) {
    process.stdout.write(PROBE_USAGE);
    return 0;
  }
  const name = args.preset as PresetName;
  const config = await modelConfig(preset(name), args.config, args.model);
  const defaults = PRESET_TRAINING[name];
  const batch = args.batch ?? defaults.batch;
  validateTrainingSetup(config, batch, args.pretrainSteps);

  const progress = new Progress({ total: 1, json: args.json });
  const json = progress.mode === 'json';
  let sink = progress;
  const launched = performance.now();
  // Every line says when it was written (seconds since the start): where a long run's time went.
  const write = (record: Record<string, unknown>) =>
    sink.log(String(record.message ?? record.event), {
      ...record,
      seconds: Math.round((performance.now() - launched) / 100) / 10,
    });
  const limits = { probeTrain: args.probeTrain, probeTest: args.probeTest };
  const loaded =
    args.data.kind === 'fashion-mnist'
      ? await fashionProbeNode(config.inputSize, limits)
      : await folderProbeNode(args.data.path, config.inputSize, limits);
  for (const file of loaded.skipped) write({ event: 'skipped', message: `Skipped ${skipMessage(file)}` });
  const checkpoint = args.checkpoint ? await readWeights(args.checkpoint) : undefined;
  let init: Map<string, Float32Array> | undefined;
  if (args.init) {
    const merged = await initialWeights(config, args.seed, args.init);
    init = merged.state;
    write({ event: 'init', message: merged.message });
  }

  const gpu = await createNodeGpu('probe');
  const { probe } = loaded;
  const featureBatches = (n: number) => Math.ceil(n / args.featureBatch);
  const pretrained = args.arms.filter((a) => a === 'sparse' || a === 'dense-zero').length;
  const total =
    pretrained * args.pretrainSteps +
    args.arms.length *
      (featureBatches(probe.train.count) + featureBatches(probe.test.count) + args.protocols.length) +
    (args.control ? args.protocols.length : 0) +
    (args.protocols.includes('finetune')
      ? (args.arms.length + (args.control ? 1 : 0)) * args.finetuneSteps
      : 0);
  const bar = new Progress({ total, json: args.json });
  sink = bar;
  let done = 0;
  let phaseBase = 0;
  write({
    event: 'start',
    message:
      `${name} on ${probe.name}: probe-train ${probe.train.count}, probe-test ${probe.test.count}, ` +
      `${probe.classes.length} classes; arms ${args.arms.join(', ')}; protocols ${args.protocols.join(', ')}; on ${gpu.label}.`,
    adapter: gpu.label,
  });
  const started = performance.now();
  const summary = await runProbe({
    gpu,
    config,
    data: probe,
    arms: args.arms,
    protocols: args.protocols,
    seed: args.seed,
    pretrain: {
      steps: args.pretrainSteps,
      batch,
      lr: args.lr ?? defaults.lr,
      optimizer: args.optimizer ?? defaults.optimizer,
      dataset: loaded.pretrain,
      init,
    },
    checkpoint,
    shuffledControl: args.control,
    settings: {
      featureBatch: args.featureBatch,
      pool: args.pool,
      knn: { k: args.knnK, temperature: args.knnTemperature, standardize: !args.knnRaw },
      linear: { epochs: args.linearEpochs, lr: args.linearLr, batch: args.linearBatch, weightDecay: 0 },
      finetune: {
        steps: args.finetuneSteps,
        batch: args.finetuneBatch,
        layerDecay: args.layerDecay,
        lr: args.finetuneLr,
      },
    },
    onEvent: (event) => {
      switch (event.type) {
        case 'arm':
          phaseBase = done;
          write({
            event: 'arm',
            message: `Arm ${event.arm}.`,
            arm: event.arm,
            ...(event.initHash ? { initHash: event.initHash } : {}),
          });
          break;
        case 'pretrain':
          done = phaseBase + event.step;
          if (json)
            write({
              event: 'pretrain',
              arm: event.arm,
              step: event.step,
              steps: event.steps,
              loss: event.loss,
            });
          else bar.update(done, { loss: event.loss, phase: `pre-train ${event.arm}` });
          break;
        case 'features':
          done++;
          if (!json) bar.update(done);
          else if (event.done === event.total)
            write({ event: 'features', arm: event.arm, split: event.split, images: event.total });
          break;
        case 'finetune':
          done++;
          if (!json) bar.update(done, { phase: `fine-tune ${event.arm}` });
          else if (event.step % 10 === 0 || event.step === event.steps)
            write({
              event: 'finetune',
              arm: event.arm,
              step: event.step,
              steps: event.steps,
              ...(event.batchLoss !== undefined
                ? { batchLoss: event.batchLoss, batchAccuracy: event.batchAccuracy }
                : {}),
            });
          break;
        case 'finetuned':
          write({
            event: 'finetuned',
            message: `fine-tuned ${event.control ? 'shuffled-label control of ' : ''}${event.arm}: test loss ${event.testLoss.toFixed(3)}, predictions per class ${event.predicted.join(' ')}`,
            arm: event.arm,
            control: event.control,
            testLoss: event.testLoss,
            predicted: event.predicted,
          });
          break;
        case 'result':
        case 'control':
          done++;
          write({
            event: event.type,
            message: `${event.type === 'control' ? 'shuffled-label control, ' : ''}${event.arm} ${event.protocol}: ${(event.accuracy * 100).toFixed(1)} % of ${event.samples} (chance ${(event.chance * 100).toFixed(1)} %)`,
            arm: event.arm,
            protocol: event.protocol,
            accuracy: event.accuracy,
            samples: event.samples,
            chance: event.chance,
          });
          if (!json) bar.update(done);
          break;
        case 'message':
          write({ event: 'log', message: event.message });
      }
    },
  });
  bar.finish({
    ...summary,
    preset: name,
    data: probe.name,
    pretrainSteps: args.pretrainSteps,
    seed: args.seed,
    wallSeconds: (performance.now() - started) / 1000,
    adapter: gpu.label,
  });
  gpu.destroy();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    const known =
      error instanceof ArgsError ||
      [
        'ConfigError',
        'NoAdapterError',
        'SafetensorsError',
        'CheckpointFormatError',
        'StateError',
        'PthError',
      ].includes(error.name);
    process.stderr.write(`${known ? error.message : (error.stack ?? error.message)}\n`);
    process.exit(known ? 2 : 1);
  },
);
