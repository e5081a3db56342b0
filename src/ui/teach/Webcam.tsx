/**
 * The webcam as a data source: while the camera is on, a frame is taken every few seconds, shrunk, and added
 * to "Your images" in the worker (memory only: nothing is written to disk or storage). A run fed this way
 * cannot be reproduced from its settings, and the page says so.
 */
import { useEffect, useRef, useState } from 'react';
import { useClient } from '../client-context';
import { pushNotice } from '../store';
import { PanelHelp } from './PanelHelp';
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
      </div>
    </section>
  );
}
