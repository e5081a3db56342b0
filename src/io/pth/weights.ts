/**
 * The weights of a `.pth` (official checkpoint, flat state dict or timm-style encoder) under SparkLab's
 * official names, for callers that take weights by name (the downstream probe's `--checkpoint` and `--init`):
 * an encoder-only file gives the encoder's tensors under `sparse_encoder.sp_cnn.`, nothing else.
 */
import { readOfficial } from './official-read';
import { readPthBytes } from './read';

/** Whether the bytes start like a zip archive (every PyTorch ≥ 1.6 `.pth`). */
export function looksLikePth(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b;
}

export async function readPthWeights(
  bytes: Uint8Array,
  name: string,
  inputSize?: number,
): Promise<Map<string, Float32Array>> {
  const archive = await readPthBytes(bytes, name);
  return (await readOfficial(archive, { withOptimizer: false, inputSize })).state;
}
