import { create } from 'zustand';
import type { AdapterSummary } from '../gpu/device';

export type GpuStatus =
  | { state: 'probing' }
  | { state: 'ready'; summary: AdapterSummary; label: string }
  | { state: 'unavailable'; reason: string };

interface AppState {
  gpu: GpuStatus;
  setGpu: (gpu: GpuStatus) => void;
}

/** The app's one store; later slices (config, run, metrics, snapshots) join here. */
export const useAppStore = create<AppState>((set) => ({
  gpu: { state: 'probing' },
  setGpu: (gpu) => set({ gpu }),
}));
