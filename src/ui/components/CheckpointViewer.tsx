/**
 * "Open checkpoint…": reconstructions from a `.pth` of any SparK architecture SparkLab can build (official
 * checkpoints, flat state dicts, timm-style encoders; ResNets and ConvNeXts of any depth), on the user's
 * images and the built-in photos, without training and without touching the run. The worker infers the
 * architecture and loads the weights with progress (src/worker/checkpoint-viewer.ts).
 */
import { useRef, useState } from 'react';
import type { CheckpointViewResult } from '../../worker/checkpoint-viewer';
import { useClient } from '../client-context';
import { usePictureOnCanvas } from '../teach/PixelCanvas';

function ViewGrid({ result }: { result: CheckpointViewResult }) {
  const canvas = usePictureOnCanvas(result.grid);
  return (
    <canvas
      ref={canvas}
      className="checkpoint-view-grid"
      data-testid="checkpoint-view-grid"
      aria-label={`Rows: ${result.images} input images, the masked inputs, the reconstructions.`}
    />
  );
}

export function CheckpointViewer() {
  const client = useClient();
  const input = useRef<HTMLInputElement>(null);
  const [inputSize, setInputSize] = useState('');
  const [status, setStatus] = useState<string>('');
  const [error, setError] = useState<string>('');
  const [result, setResult] = useState<CheckpointViewResult>();
  const [busy, setBusy] = useState(false);

  const open = async (file: File) => {
    const size = inputSize.trim() === '' ? undefined : Number(inputSize);
    if (size !== undefined && !(Number.isInteger(size) && size > 0)) {
      setError(`The input size must be a whole number of pixels such as 224, got "${inputSize}".`);
      return;
    }
    setBusy(true);
    setError('');
    setStatus(`Reading ${file.name}…`);
    try {
      const viewed = await client.viewCheckpoint(file, { inputSize: size }, (read, total) =>
        setStatus(`Loading ${file.name}: ${Math.floor((100 * read) / Math.max(1, total))}%`),
      );
      setResult(viewed);
      setStatus('');
    } catch (e) {
      setError(`${file.name} cannot be viewed: ${(e as Error).message}`);
      setStatus('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="checkpoint-viewer" data-testid="checkpoint-viewer">
      <button type="button" disabled={busy} onClick={() => input.current?.click()}>
        Open checkpoint to view…
      </button>
      <label>
        <span>Input size (if the file does not say)</span>
        <input
          value={inputSize}
          placeholder="224"
          inputMode="numeric"
          data-testid="checkpoint-view-size"
          onChange={(e) => setInputSize(e.target.value)}
        />
      </label>
      <input
        ref={input}
        type="file"
        accept=".pth"
        hidden
        data-testid="open-checkpoint"
        onChange={(e) => {
          const file = e.target.files?.[0];
          e.target.value = '';
          if (file) void open(file);
        }}
      />
      {status && (
        <p className="hint" role="status" data-testid="checkpoint-view-status">
          {status}
        </p>
      )}
      {error && (
        <p className="error" role="alert" data-testid="checkpoint-view-error">
          {error}
        </p>
      )}
      {result && (
        <figure>
          <figcaption data-testid="checkpoint-view-description">
            {result.description}; masked-patch loss {result.loss.toFixed(4)} on {result.images} image(s).
          </figcaption>
          {result.warnings.map((w) => (
            <p className="hint" key={w}>
              {w}
            </p>
          ))}
          <ViewGrid result={result} />
        </figure>
      )}
    </div>
  );
}
