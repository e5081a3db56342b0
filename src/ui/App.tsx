import { useEffect, useState } from 'react';
import { acquireDevice, adapterLabel } from '../gpu/device';
import { NoAdapterError } from '../gpu/errors';
import { ClientContext } from './client-context';
import { Controls } from './components/Controls';
import { HistogramPanel } from './components/Histograms';
import { MaskVanishingPanel } from './components/MaskVanishing';
import { MetricsPanel } from './components/Metrics';
import { Notices } from './components/Notices';
import { ProbePanel } from './components/ProbePanel';
import { ReconstructionPanel } from './components/Reconstruction';
import { useAppStore } from './store';
import { PlaygroundClient } from './trainer-client';
import { createTrainerWorker } from './worker-entry';

async function probeWebGpu(): Promise<void> {
  const { setGpu } = useAppStore.getState();
  try {
    const { device, summary } = await acquireDevice(navigator.gpu, { host: 'browser' });
    device.destroy();
    setGpu({ state: 'ready', summary, label: adapterLabel(summary) });
  } catch (error) {
    const reason =
      error instanceof NoAdapterError ? error.message : `WebGPU could not start: ${String(error)}`;
    setGpu({ state: 'unavailable', reason });
  }
}

const KEY_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
];

function AdapterPanel() {
  const gpu = useAppStore((s) => s.gpu);
  if (gpu.state === 'probing') return <p data-testid="gpu-status">Looking for a WebGPU adapter…</p>;
  if (gpu.state === 'unavailable') {
    return (
      <section className="panel warning" data-testid="gpu-status" data-state="unavailable">
        <h2>WebGPU is not available</h2>
        <p>{gpu.reason}</p>
        <p>
          SparkLab trains on your GPU through WebGPU. Everything else (the explanations, the figures) still
          works; to train, open this page in a browser with WebGPU, or run the same engine from a terminal
          with <code>npm run train</code>.
        </p>
      </section>
    );
  }
  const { summary } = gpu;
  return (
    <section className="panel adapter" data-testid="gpu-status" data-state="ready">
      <p className="adapter-line">
        Training on <strong data-testid="adapter-label">{gpu.label}</strong>
        {summary.isSoftware && (
          <span className="note">
            {' '}
            — a software adapter: results are correct but slow; do not read speed from it.
          </span>
        )}
      </p>
      <details>
        <summary>Adapter limits and features</summary>
        <table>
          <tbody>
            {KEY_LIMITS.map((key) => (
              <tr key={key}>
                <th>{key}</th>
                <td>{summary.limits[key]?.toLocaleString()}</td>
              </tr>
            ))}
            <tr>
              <th>features</th>
              <td data-testid="adapter-features">{summary.features.join(', ') || 'none'}</td>
            </tr>
          </tbody>
        </table>
      </details>
    </section>
  );
}

export function App() {
  const [client] = useState(() => new PlaygroundClient(createTrainerWorker));
  const gpuReady = useAppStore((s) => s.gpu.state === 'ready');
  useEffect(() => {
    void probeWebGpu();
  }, []);
  useEffect(() => {
    // A reload offers to resume what an earlier visit saved (only useful where training can run).
    if (gpuReady) void client.loadSavedRuns();
  }, [gpuReady, client]);
  return (
    <ClientContext.Provider value={client}>
      <main>
        <header>
          <h1>SparkLab</h1>
          <p>
            SparK masked image modelling for convnets, trained live on your GPU with hand-written WebGPU
            kernels: hide most of an image, encode only what is visible with sparse convolutions, and learn to
            paint the rest back.
          </p>
        </header>
        <AdapterPanel />
        <Notices />
        <div className="layout">
          <Controls />
          <div className="views">
            <ReconstructionPanel />
            <MetricsPanel />
            <HistogramPanel />
          </div>
        </div>
        <ProbePanel />
        <MaskVanishingPanel />
      </main>
    </ClientContext.Provider>
  );
}
