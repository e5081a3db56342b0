/**
 * Node host: Dawn's bindings from the `webgpu` npm package. Not engine code (it touches process.env and fs),
 * used by tests, benchmarks and the CLI.
 */
import { existsSync } from 'node:fs';
import { acquireDevice } from './device';
import { Gpu } from './runtime';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/**
 * Chooses the Vulkan driver before Dawn starts. An explicit VK_ICD_FILENAMES (or VK_DRIVER_FILES) always
 * wins; SPARKLAB_ADAPTER=hardware leaves the loader alone; otherwise, on a machine with no GPU device node,
 * SwiftShader (shipped with Debian's chromium) is used so that the tests run for real on CPUs.
 */
export function chooseVulkanDriver(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES) return env.VK_ICD_FILENAMES ?? env.VK_DRIVER_FILES;
  if (env.SPARKLAB_ADAPTER === 'hardware') return undefined;
  const hasGpuNode = existsSync('/dev/dri/renderD128') || existsSync('/dev/nvidia0');
  if (!hasGpuNode && existsSync(SWIFTSHADER_ICD)) {
    env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    return SWIFTSHADER_ICD;
  }
  return undefined;
}

let dawn: { gpu: GPU } | undefined;

/**
 * Dawn's instance flags. Timestamp quantisation (on by default: timestamps rounded to 2^16 ns ≈ 66 µs, a
 * browser's defence against timing attacks) is turned off, so that profilers see each kernel's own time.
 */
const DAWN_FLAGS = ['disable-dawn-features=timestamp_quantization'];

async function loadDawn(): Promise<GPU> {
  if (dawn) return dawn.gpu;
  chooseVulkanDriver();
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  const webgpu = await import('webgpu');
  Object.assign(globalThis, webgpu.globals);
  // Dawn keeps one instance per process: creating several leaks threads and adapters.
  dawn = { gpu: webgpu.create(DAWN_FLAGS) as GPU };
  return dawn.gpu;
}

/** A ready runtime on the best Node adapter, or a NoAdapterError whose message says what to install. */
export async function createNodeGpu(label = 'node'): Promise<Gpu> {
  const gpu = await loadDawn();
  const acquired = await acquireDevice(gpu, { host: 'node' });
  return new Gpu(acquired, label);
}
