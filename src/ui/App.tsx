import { useEffect } from 'react';
import { acquireDevice, adapterLabel } from '../gpu/device';
import { NoAdapterError } from '../gpu/errors';
import { useAppStore } from './store';

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
    <section className="panel" data-testid="gpu-status" data-state="ready">
      <h2>WebGPU adapter</h2>
      <p data-testid="adapter-label">{gpu.label}</p>
      {summary.isSoftware && (
        <p className="note">
          This is a software adapter: results are correct but slow; do not read speed from it.
        </p>
      )}
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
    </section>
  );
}

export function App() {
  useEffect(() => {
    void probeWebGpu();
  }, []);
  return (
    <main>
      <header>
        <h1>SparkLab</h1>
        <p>SparK masked image modelling for convnets, with hand-written WebGPU kernels.</p>
      </header>
      <AdapterPanel />
    </main>
  );
}
