/**
 * Runs Python scripts with PyTorch for the `.pth` round-trip tests. Debian's python3-torch installs into
 * /usr/bin/python3, which a pyenv or venv `python3` on the PATH may hide, so that one is tried first
 * (SPARKLAB_PYTHON overrides both). CI installs python3-torch (.ci/run); without it these tests fail with a
 * sentence saying so rather than pass without checking anything.
 */
import { execFileSync } from 'node:child_process';

let found: string | null | undefined;

export function torchPython(): string | null {
  if (found !== undefined) return found;
  const candidates = [process.env.SPARKLAB_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean) as string[];
  found = null;
  for (const candidate of candidates) {
    try {
      execFileSync(candidate, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
      found = candidate;
      break;
    } catch {
      // not this one
    }
  }
  return found;
}

export const TORCH_MISSING =
  'No python3 with PyTorch was found (tried $SPARKLAB_PYTHON, /usr/bin/python3, python3): install Debian python3-torch ' +
  '(sudo apt-get install -y python3-torch, as .ci/run does) so that torch.load can check the written .pth files.';

/** Runs `script` (Python source) with `args`; returns its stdout. Throws TORCH_MISSING without torch. */
export function runTorch(script: string, args: string[] = []): string {
  const python = torchPython();
  if (!python) throw new Error(TORCH_MISSING);
  return execFileSync(python, ['-c', script, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 << 20,
  });
}
