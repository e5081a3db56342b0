/**
 * The page's probe worker: a quick k-NN (and, on request, a linear probe) of a run's encoder against random
 * initialisation, on its own WebGPU device so the training worker is not disturbed. Weights arrive as the
 * safetensors file the training worker exports (configuration in its metadata); the labelled probe set is
 * the built-in Fashion-MNIST, first `probeTrain` pre-training images and first `probeTest` held-out images.
 */
import * as Comlink from 'comlink';
import { BUILTIN_PATHS, FASHION_MNIST_FILES } from '../data/builtin';
import { defaultDataRoot, fashionMnistDatasetBrowser } from '../data/builtin-browser';
import { fetchBytes } from '../data/decode-browser';
import { gunzipWeb, isGzip, parseIdx } from '../data/idx';
import { acquireDevice } from '../gpu/device';
import { Gpu } from '../gpu/runtime';
import { readSafetensors, toFloat64Array } from '../io/safetensors';
import { type SparkConfig, validateSparkConfig } from '../models/config';
import { fashionProbeData, type ProbeData } from './data';
import { type ProbeSummary, type ProtocolName, runProbe } from './run';

export interface PageProbeRequest {
  weights: Uint8Array;
  seed: number;
  protocols: ProtocolName[];
  probeTrain: number;
  probeTest: number;
}

export interface PageProbeApi {
  probe(request: PageProbeRequest, onProgress: (message: string) => void): Promise<ProbeSummary>;
}

let gpu: Gpu | undefined;
const data = new Map<number, Promise<ProbeData>>();

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
    data.set(key, loaded);
  }
  return loaded;
}

const api: PageProbeApi = {
  async probe(request, onProgress) {
    const file = readSafetensors(request.weights, 'the run’s weights');
    if (!file.metadata.config)
      throw new Error('The run’s weights carry no configuration; export them again.');
    const config = validateSparkConfig(JSON.parse(file.metadata.config) as SparkConfig);
    const state = new Map<string, Float32Array>();
    for (const [name, tensor] of file.tensors) state.set(name, Float32Array.from(toFloat64Array(tensor)));
    gpu ??= new Gpu(await acquireDevice(navigator.gpu, { host: 'browser' }), 'probe');
    onProgress('Loading the labelled probe images…');
    const probeData = await fashion(config.inputSize, request.probeTrain, request.probeTest);
    return runProbe({
      gpu,
      config,
      data: probeData,
      arms: ['random', 'checkpoint'],
      protocols: request.protocols,
      seed: request.seed,
      checkpoint: state,
      settings: { featureBatch: 50 },
      onEvent: (event) => {
        if (event.type === 'features' && event.done === event.total)
          onProgress(
            `Features of ${event.arm === 'checkpoint' ? 'this run' : 'random init'}: ${event.split} done.`,
          );
        else if (event.type === 'result')
          onProgress(`${event.arm} ${event.protocol}: ${(event.accuracy * 100).toFixed(1)} %`);
      },
    });
  },
};

Comlink.expose(api);
