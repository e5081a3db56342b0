/**
 * The webcam as a data source: while the camera is on, a frame is taken every few seconds, shrunk, and added
 * to "Your images" in the worker (memory only: nothing is written to disk or storage). A run fed this way
 * cannot be reproduced from its settings, and the page says so.
 */
import { useEffect, useRef, useState } from 'react';
import { useClient } from '../client-context';
import { PictureCanvas } from '../components/Reconstruction';
import type { ReconPictures } from '../lab-client';
import { pushNotice, useAppStore } from '../store';
import { PanelHelp } from './PanelHelp';
import { RECON_LABELS } from './recon-view';
import { useTeachStore } from './teach-store';

/** Milliseconds between frames sent into the training images. */
export const FRAME_INTERVAL_MS = 3000;
/** Longest side of a sent frame in pixels (the worker crops and resizes to the model size). */
const FRAME_SIDE = 160;

function frameFile(video: HTMLVideoElement, index: number): Promise<File | undefined> {
  const scale = FRAME_SIDE / Math.max(video.videoWidth, video.videoHeight);
  const width = Math.max(1, Math.round(video.videoWidth * scale));
  const height = Math.max(1, Math.round(video.videoHeight * scale));
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d')?.drawImage(video, 0, 0, width, height);
  return new Promise((resolve) =>
    canvas.toBlob(
      (blob) => resolve(blob ? new File([blob], `webcam-${index}.png`, { type: 'image/png' }) : undefined),
      'image/png',
    ),
  );
}

/** The video's centre square at `size`×`size` as HWC RGB bytes (what the worker's eval model takes). */
function frameRgb(video: HTMLVideoElement, size: number): Uint8Array | undefined {
  const side = Math.min(video.videoWidth, video.videoHeight);
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context || side === 0) return undefined;
  const left = (video.videoWidth - side) / 2;
  const top = (video.videoHeight - side) / 2;
  context.drawImage(video, left, top, side, side, 0, 0, size, size);
  const rgba = context.getImageData(0, 0, size, size).data;
  const rgb = new Uint8Array(size * size * 3);
  for (let p = 0; p < size * size; p++) {
    rgb[p * 3] = rgba[p * 4];
    rgb[p * 3 + 1] = rgba[p * 4 + 1];
    rgb[p * 3 + 2] = rgba[p * 4 + 2];
  }
  return rgb;
}

type FrameRecon = ReconPictures & { step: number; visibleCells: number };

/**
 * "Reconstruct me": every few seconds the live frame, masked at the run's ratio like the watch set, is
 * reconstructed by the current weights (each one pauses the step loop for a moment, as the mask editor does).
 */
function WebcamRecon(props: { video: HTMLVideoElement | null }) {
  const client = useClient();
  const runId = useAppStore((s) => s.run.runId);
  const size = useAppStore((s) => s.run.model?.inputSize);
  const mode = useTeachStore((s) => s.reconMode);
  const [recon, setRecon] = useState<FrameRecon | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const { video } = props;

  useEffect(() => {
    if (!runId || !size || !video) return;
    let busy = false;
    let live = true;
    const reconstruct = async () => {
      if (busy || video.readyState < 2 || video.videoWidth === 0) return;
      const rgb = frameRgb(video, size);
      if (!rgb) return;
      busy = true;
      try {
        const result = await client.lab.reconstructPicture(rgb);
        if (live) {
          setRecon(result);
          setError(undefined);
        }
      } catch (failure) {
        if (live)
          setError(
            `This frame could not be reconstructed: ${failure instanceof Error ? failure.message : String(failure)}`,
          );
      } finally {
        busy = false;
      }
    };
    void reconstruct();
    const timer = setInterval(() => void reconstruct(), FRAME_INTERVAL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [runId, size, video, client]);

  if (!runId || !size)
    return (
      <p className="hint" data-testid="webcam-recon-none">
        No run yet: Start or Step one and the model reconstructs your camera here.
      </p>
    );
  return (
    <figure className="webcam-recon">
      {recon ? (
        <>
          <PictureCanvas picture={recon.masked} testId="webcam-masked" label="Your camera frame, masked" />
          <PictureCanvas
            picture={mode === 'no-leak' ? recon.noLeak : recon.composite}
            testId="webcam-recon"
            label={`Your camera frame reconstructed from ${recon.visibleCells} visible cells at step ${recon.step}`}
            visibleCells={recon.visibleCells}
            step={recon.step}
          />
        </>
      ) : (
        <p className="hint">Reconstructing your camera…</p>
      )}
      <figcaption>
        <strong>Reconstruct me</strong>: the live frame, masked at the run’s ratio, as the current model fills
        it in ({RECON_LABELS[mode]} view).
      </figcaption>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </figure>
  );
}

export function WebcamPanel() {
  const client = useClient();
  const webcam = useTeachStore((s) => s.webcam);
  const video = useRef<HTMLVideoElement>(null);
  const stream = useRef<MediaStream | undefined>(undefined);
  const [starting, setStarting] = useState(false);
  const setWebcam = (patch: Partial<typeof webcam>) =>
    useTeachStore.setState((s) => ({ webcam: { ...s.webcam, ...patch } }));

  const stop = () => {
    for (const track of stream.current?.getTracks() ?? []) track.stop();
    stream.current = undefined;
    if (video.current) video.current.srcObject = null;
    setWebcam({ on: false });
  };

  const start = async () => {
    if (!navigator.mediaDevices?.getUserMedia) {
      setWebcam({ error: 'This browser offers no camera access here (it needs a secure https:// page).' });
      return;
    }
    setStarting(true);
    try {
      const media = await navigator.mediaDevices.getUserMedia({
        video: { width: 320, height: 240 },
        audio: false,
      });
      stream.current = media;
      if (video.current) {
        video.current.srcObject = media;
        await video.current.play().catch(() => undefined);
      }
      setWebcam({ on: true, error: undefined });
    } catch (error) {
      const name = error instanceof DOMException ? error.name : '';
      setWebcam({
        on: false,
        error:
          name === 'NotAllowedError'
            ? 'The camera was not allowed. Allow it in the browser’s site settings and try again.'
            : `The camera could not start: ${error instanceof Error ? error.message : String(error)}`,
      });
    } finally {
      setStarting(false);
    }
  };

  useEffect(() => {
    if (!webcam.on) return;
    let index = useTeachStore.getState().webcam.framesSent;
    const timer = setInterval(async () => {
      const element = video.current;
      if (!element || element.readyState < 2 || element.videoWidth === 0) return;
      const file = await frameFile(element, ++index);
      if (!file) return;
      const first = !useTeachStore.getState().webcam.used;
      await client.addImages([file]);
      useTeachStore.setState((s) => ({
        webcam: { ...s.webcam, framesSent: s.webcam.framesSent + 1, used: true },
      }));
      if (first)
        pushNotice(
          'info',
          'webcam',
          'Webcam frames are now among “Your images”. A run trained on them cannot be reproduced from its settings or link. The frames stay in this tab’s memory and are not saved.',
        );
    }, FRAME_INTERVAL_MS);
    return () => clearInterval(timer);
  }, [webcam.on, client]);

  // The camera stops when the panel goes away.
  useEffect(
    () => () => {
      for (const track of stream.current?.getTracks() ?? []) track.stop();
    },
    [],
  );

  return (
    <section className="panel" aria-labelledby="webcam-title" data-testid="webcam-panel">
      <h2 id="webcam-title">Your own pictures, live</h2>
      <PanelHelp id="webcam" />
      <div className="webcam">
        <video ref={video} muted playsInline aria-label="Live camera preview" hidden={!webcam.on} />
        <div>
          <button
            type="button"
            data-testid="webcam-toggle"
            aria-pressed={webcam.on}
            disabled={starting}
            onClick={() => (webcam.on ? stop() : void start())}
          >
            {webcam.on ? 'Stop the camera' : starting ? 'Starting the camera…' : 'Use my camera'}
          </button>
          <p className="hint" data-testid="webcam-status" data-frames={webcam.framesSent}>
            {webcam.on
              ? `Sending one frame every ${FRAME_INTERVAL_MS / 1000} s into “Your images” (${webcam.framesSent} so far).`
              : 'Off. When on, a frame every few seconds joins “Your images”; nothing is stored.'}
            {webcam.used && ' Runs on these frames are not reproducible.'}
          </p>
          {webcam.error && (
            <p className="form-error" role="alert">
              {webcam.error}
            </p>
          )}
        </div>
        {webcam.on && <WebcamRecon video={video.current} />}
      </div>
    </section>
  );
}
