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
import { RunsPanel } from './components/RunsTable';
import { WatchSetPanel } from './components/WatchSet';
import { useLabStore } from './lab-store';
import { decodeLink, encodeLink } from './link';
import { pushNotice, useAppStore } from './store';
import { PanelBoundary } from './teach/PanelBoundary';
import { RunBar } from './teach/RunBar';
import { ScenarioPanel } from './teach/Scenarios';
import { SparseViewPanel } from './teach/SparseView';
import { ThemeSelect } from './teach/Theme';
import { TourButton, TourInvite } from './teach/Tour';
import { VanishLabPanel } from './teach/VanishLab';
import { WebcamPanel } from './teach/Webcam';
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

/** Applies a shared link once, before the first render: its settings fill the form, its notices show. */
function applyLink(): void {
  const link = decodeLink(location.hash);
  if (!link.present) return;
  useAppStore.getState().setForm(link.form);
  if (link.panel) useLabStore.setState({ panel: link.panel });
  for (const text of link.notices) pushNotice('warning', 'link', text);
}

/** The hash follows the settings, so the address bar is always a link to what the page shows. */
function useLinkInHash(): void {
  const form = useAppStore((s) => s.form);
  const panel = useLabStore((s) => s.panel);
  useEffect(() => {
    const hash = encodeLink({ form, ...(panel ? { panel } : {}) });
    if (location.hash !== hash) history.replaceState(null, '', hash);
  }, [form, panel]);
}

export function App() {
  const [client] = useState(() => {
    applyLink();
    return new PlaygroundClient(createTrainerWorker);
  });
  const gpuReady = useAppStore((s) => s.gpu.state === 'ready');
  const gpuKnown = useAppStore((s) => s.gpu.state !== 'probing');
  const preset = useAppStore((s) => s.form.preset);
  const dataset = useAppStore((s) => s.form.dataset);
  const userImages = useAppStore((s) => s.images.result?.total ?? 0);
  const maskRatio = useAppStore((s) => s.form.maskRatio);
  useLinkInHash();
  // biome-ignore lint/correctness/useExhaustiveDependencies: the editor follows each new ratio
  useEffect(() => {
    client.lab.followRatio();
  }, [maskRatio, client]);
  useEffect(() => {
    void probeWebGpu();
  }, []);
  useEffect(() => {
    // Kept runs from earlier visits, with the checkpoints to resume them (only useful where training can run).
    if (gpuReady) void client.lab.restore();
  }, [gpuReady, client]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new preset means a new image size: reload the set
  useEffect(() => {
    // The watch set of the chosen data (the mask preview needs it before any run).
    if (gpuKnown && (dataset !== 'user' || userImages > 0)) void client.lab.loadWatchImages();
  }, [gpuKnown, preset, dataset, userImages, client]);
  return (
    <ClientContext.Provider value={client}>
      <main>
        <header>
          <div className="header-row">
            <h1>SparkLab</h1>
            <div className="header-tools">
              <TourButton />
              <ThemeSelect />
            </div>
          </div>
          <p>
            SparK masked image modelling for convnets, trained live on your GPU with hand-written WebGPU
            kernels: hide most of an image, encode only what is visible with sparse convolutions, and learn to
            paint the rest back.
          </p>
          <TourInvite />
        </header>
        <RunBar />
        <AdapterPanel />
        <Notices />
        <div className="layout">
          <PanelBoundary name="settings" helpId="controls" tourId="controls">
            <Controls />
          </PanelBoundary>
          <div className="views">
            <PanelBoundary name="reconstruction" helpId="reconstruction" tourId="reconstruction">
              <ReconstructionPanel />
            </PanelBoundary>
            <PanelBoundary name="sparse view" tourId="sparse">
              <SparseViewPanel />
            </PanelBoundary>
            <PanelBoundary name="metrics" helpId="metrics">
              <MetricsPanel />
            </PanelBoundary>
            <PanelBoundary name="watch set" helpId="watch">
              <WatchSetPanel />
            </PanelBoundary>
            <PanelBoundary name="histograms" helpId="histograms" tourId="histograms">
              <HistogramPanel />
            </PanelBoundary>
            <PanelBoundary name="scenarios" tourId="scenarios">
              <ScenarioPanel />
            </PanelBoundary>
            <PanelBoundary name="webcam">
              <WebcamPanel />
            </PanelBoundary>
          </div>
        </div>
        <PanelBoundary name="runs" helpId="runs">
          <RunsPanel />
        </PanelBoundary>
        <PanelBoundary name="does it help" helpId="probe">
          <ProbePanel />
        </PanelBoundary>
        <PanelBoundary name="mask-vanishing" helpId="vanishing">
          <MaskVanishingPanel />
        </PanelBoundary>
        <PanelBoundary name="mask drawing" tourId="vanish-lab">
          <VanishLabPanel />
        </PanelBoundary>
      </main>
    </ClientContext.Provider>
  );
}
