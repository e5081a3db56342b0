/**
 * The page's probe worker: a quick k-NN (and, on request, a linear probe) of a run's encoder against random
 * initialisation, on its own WebGPU device so the training worker is not disturbed. The weights are either the
 * safetensors file the training worker exports for the current run (configuration in its metadata) or a kept
 * run's stored checkpoint, read here from the checkpoint store the training worker writes (IndexedDB), so a
 * kept run is probed without being resumed. The labelled probe set is the built-in Fashion-MNIST, first
 * `probeTrain` pre-training images and first `probeTest` held-out images.
 *
 * The random arm depends only on the encoder's configuration, the seed and the probe set: its scores (and the
 * shuffled-label control on its features) are computed once per page and reused, so probing every run of a
 * sweep costs one random arm, not one per run.
 */
import * as Comlink from 'comlink';
import { BUILTIN_PATHS, FASHION_MNIST_FILES } from '../data/builtin';
import { defaultDataRoot, fashionMnistDatasetBrowser } from '../data/builtin-browser';
import { fetchBytes } from '../data/decode-browser';
import { gunzipWeb, isGzip, parseIdx } from '../data/idx';
import { acquireDevice } from '../gpu/device';
import { Gpu } from '../gpu/runtime';
import { IndexedDbCheckpointStore } from '../io/checkpoint-store-idb';
import { readSafetensors, toFloat64Array } from '../io/safetensors';
import { type SparkConfig, validateSparkConfig } from '../models/config';
import { officialInitialState } from '../models/init';
import { readTrainerCheckpoint } from '../train/checkpoint';
import { fashionProbeData, type ProbeData } from './data';
import { encoderHash } from './hash';
import { type ProbeSummary, type ProtocolName, runProbe } from './run';

export interface PageProbeRequest {
  /** The current run's weights (safetensors with its configuration), or… */
  weights?: Uint8Array;
  /** …the name of a kept run's stored checkpoint (its run id). */
  checkpoint?: string;
  /** Seed of the random arm for `weights` (a checkpoint carries its own). */
  seed: number;
  protocols: ProtocolName[];
  probeTrain: number;
  probeTest: number;
}

export interface PageProbeResult {
  summary: ProbeSummary;
  /** Step of the probed weights when they came from a checkpoint. */
  step?: number;
  /** Whether the random arm's scores were reused from an earlier probe of this page. */
  randomReused: boolean;
}

export interface PageProbeApi {
  probe(request: PageProbeRequest, onProgress: (message: string) => void): Promise<PageProbeResult>;
}

let gpu: Gpu | undefined;
let store: IndexedDbCheckpointStore | undefined;
const data = new Map<number, Promise<ProbeData>>();
interface RandomArm {
  scores: NonNullable<ProbeSummary['results']['random']>;
  shuffledControl: ProbeSummary['shuffledControl'];
}
const randomArms = new Map<string, RandomArm>();

async function fashion(imageSize: number, probeTrain: number, probeTest: number): Promise<ProbeData> {
  const key = imageSize * 1e8 + probeTrain * 1e4 + probeTest;
  let loaded = data.get(key);
  if (!loaded) {
    loaded = (async () => {
      const dataset = await fashionMnistDatasetBrowser({ imageSize });
      const root = defaultDataRoot();
      const bytes = await fetchBytes(root + BUILTIN_PATHS.fashion(FASHION_MNIST_FILES.labels));
      const labels = parseIdx(isGzip(bytes) ? await gunzipWeb(bytes) : bytes, 'Fashion-MNIST label file');
      return fashionProbeData(dataset, labels.data, { probeTrain, probeTest });
    })();
    loaded.catch(() => data.delete(key));
    data.set(key, loaded);
  }
  return loaded;
}

/** Weights, configuration and seed of what is probed. */
async function source(request: PageProbeRequest): Promise<{
  config: SparkConfig;
  state: Map<string, Float32Array>;
  seed: number;
  step?: number;
}> {
  if (request.checkpoint !== undefined) {
    store ??= new IndexedDbCheckpointStore();
    const { bytes } = await store.load(request.checkpoint);
    const saved = readTrainerCheckpoint(bytes, `the checkpoint of run ${request.checkpoint}`);
    return {
      config: saved.config,
      state: saved.state,
      seed: saved.progress.seed,
      step: saved.progress.step,
    };
  }
  if (!request.weights) throw new Error('Nothing to probe: neither weights nor a kept run were given.');
  const file = readSafetensors(request.weights, 'the run’s weights');
  if (!file.metadata.config) throw new Error('The run’s weights carry no configuration; export them again.');
  const config = validateSparkConfig(JSON.parse(file.metadata.config) as SparkConfig);
  const state = new Map<string, Float32Array>();
  for (const [name, tensor] of file.tensors) state.set(name, Float32Array.from(toFloat64Array(tensor)));
  return { config, state, seed: request.seed };
}

const api: PageProbeApi = {
  async probe(request, onProgress) {
    const { config, state, seed, step } = await source(request);
    // A lost device (driver reset, tab in the background too long) fails the probe that was running with its
    // sentence; the next probe asks for a fresh device instead of failing on the dead one forever.
    if (!gpu || gpu.isLost) gpu = new Gpu(await acquireDevice(navigator.gpu, { host: 'browser' }), 'probe');
    onProgress('Loading the labelled probe images…');
    const probeData = await fashion(config.inputSize, request.probeTrain, request.probeTest);
    // What the random arm's features depend on: the encoder's initial weights (their hash covers the
    // backbone and the seed), its architecture and input size, the probe set and the protocols.
    const initHash = encoderHash(config, officialInitialState(config, seed));
    const key = JSON.stringify([
      initHash,
      config.backbone,
      config.inputSize,
      request.probeTrain,
      request.probeTest,
      request.protocols,
    ]);
    const cached = randomArms.get(key);
    const summary = await runProbe({
      gpu,
      config,
      data: probeData,
      arms: cached ? ['checkpoint'] : ['random', 'checkpoint'],
      protocols: request.protocols,
      seed,
      checkpoint: state,
      shuffledControl: !cached,
      settings: { featureBatch: 50 },
      onEvent: (event) => {
        if (event.type === 'features' && event.done === event.total)
          onProgress(
            `Features of ${event.arm === 'checkpoint' ? 'this run' : 'random init'}: ${event.split} done.`,
          );
        else if (event.type === 'result')
          onProgress(
            `${event.arm === 'checkpoint' ? 'this run' : 'random init'}, ${event.protocol === 'knn' ? 'k-NN' : 'linear probe'}: ${(event.accuracy * 100).toFixed(1)} %`,
          );
      },
    });
    if (cached) {
      summary.results = { random: cached.scores, ...summary.results };
      summary.shuffledControl = cached.shuffledControl;
    } else if (summary.results.random) {
      randomArms.set(key, {
        scores: summary.results.random,
        shuffledControl: summary.shuffledControl,
      });
    }
    return { summary, ...(step !== undefined ? { step } : {}), randomReused: Boolean(cached) };
  },
};

Comlink.expose(api);
