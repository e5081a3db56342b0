/**
 * State of the teaching layer (kept apart from the training store so the two evolve independently): the
 * reconstruction view, the colour theme, the CPU sample of held-out images the figures use before (or
 * without) a run, and the webcam source. Preferences survive a reload through localStorage.
 */
import { create } from 'zustand';
import type { Normalization } from '../../data/augment';

export type ReconMode = 'official' | 'no-leak';
export const RECON_MODES: readonly ReconMode[] = ['official', 'no-leak'];
export type ThemeChoice = 'system' | 'light' | 'dark';

const KEYS = { recon: 'sparklab.recon-mode', theme: 'sparklab.theme', tour: 'sparklab.tour-done' };

function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Storage full or disabled: the preference holds for this visit only.
  }
}

/** Held-out images decoded on the main thread, so the figures work without WebGPU and before any run. */
export interface LessonSample {
  /** dataset|size: what it was loaded for. */
  key: string;
  images: number;
  size: number;
  normalization: Normalization;
  /** NCHW [images, 3, size, size], normalised units. */
  pixels: Float32Array;
}

export interface WebcamState {
  on: boolean;
  /** Frames sent into the training stream this visit. */
  framesSent: number;
  /** A run was fed webcam frames: it cannot be reproduced from its link. */
  used: boolean;
  error?: string;
}

export interface TeachState {
  reconMode: ReconMode;
  theme: ThemeChoice;
  sample?: LessonSample;
  sampleError?: string;
  webcam: WebcamState;
  setReconMode: (mode: ReconMode) => void;
  setTheme: (theme: ThemeChoice) => void;
}

function initialReconMode(): ReconMode {
  const saved = read(KEYS.recon);
  return saved === 'no-leak' ? 'no-leak' : 'official';
}

function initialTheme(): ThemeChoice {
  const saved = read(KEYS.theme);
  return saved === 'light' || saved === 'dark' ? saved : 'system';
}

export const useTeachStore = create<TeachState>((set) => ({
  reconMode: initialReconMode(),
  theme: initialTheme(),
  webcam: { on: false, framesSent: 0, used: false },
  setReconMode: (reconMode) => {
    write(KEYS.recon, reconMode);
    set({ reconMode });
  },
  setTheme: (theme) => {
    write(KEYS.theme, theme);
    set({ theme });
  },
}));

export function tourDone(): boolean {
  return read(KEYS.tour) === '1';
}

export function markTourDone(): void {
  write(KEYS.tour, '1');
}
