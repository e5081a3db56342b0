import { NoAdapterError } from './errors';

/** Features the kernels can use when present; none is required. */
export const OPTIONAL_FEATURES: GPUFeatureName[] = ['timestamp-query', 'subgroups', 'shader-f16'];

/**
 * Limits the kernels are designed for. We ask for the adapter's own value when it is larger (big buffers
 * for large batches), but never require more than these minimums.
 */
export const REQUIRED_LIMITS = {
  maxComputeWorkgroupStorageSize: 16384,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeInvocationsPerWorkgroup: 256,
} as const;

const REQUESTED_FROM_ADAPTER = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
] as const;

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for SwiftShader and other CPU implementations: fine for correctness, never for speed figures. */
  isSoftware: boolean;
  features: string[];
  limits: Record<string, number>;
}

export interface AcquiredDevice {
  adapter: GPUAdapter;
  device: GPUDevice;
  summary: AdapterSummary;
}

export function describeAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const limits: Record<string, number> = {};
  for (const key of REQUESTED_FROM_ADAPTER) limits[key] = Number(adapter.limits[key]);
  const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`;
  return {
    vendor: info.vendor || 'unknown vendor',
    architecture: info.architecture || 'unknown architecture',
    device: info.device || '',
    description: info.description || '',
    isSoftware: /swiftshader|llvmpipe|lavapipe|software|microsoft basic/i.test(text),
    features: [...adapter.features].map(String).sort(),
    limits,
  };
}

/** One line naming the adapter, printed with every benchmark figure and once per test run. */
export function adapterLabel(summary: AdapterSummary): string {
  const parts = [summary.vendor, summary.architecture, summary.device, summary.description].filter(Boolean);
  const name = [...new Set(parts)].join(' / ');
  return summary.isSoftware ? `${name} (software adapter)` : name;
}

export interface AcquireOptions {
  powerPreference?: GPUPowerPreference;
  /** Where this runs, used only to make the "no adapter" sentence helpful. */
  host: 'browser' | 'node';
}

export async function acquireDevice(gpu: GPU | undefined, options: AcquireOptions): Promise<AcquiredDevice> {
  if (!gpu) throw new NoAdapterError(noWebGpuMessage(options.host));
  const adapter = await gpu.requestAdapter({
    powerPreference: options.powerPreference ?? 'high-performance',
  });
  if (!adapter) throw new NoAdapterError(noAdapterMessage(options.host));
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const key of REQUESTED_FROM_ADAPTER) requiredLimits[key] = Number(adapter.limits[key]);
  for (const [key, minimum] of Object.entries(REQUIRED_LIMITS)) {
    if (requiredLimits[key] < minimum) {
      throw new NoAdapterError(
        `This GPU offers ${key} = ${requiredLimits[key]}, but SparkLab's kernels need at least ${minimum}.`,
      );
    }
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'SparkLab device' });
  return { adapter, device, summary: describeAdapter(adapter) };
}

export function noWebGpuMessage(host: 'browser' | 'node'): string {
  if (host === 'node') {
    return 'WebGPU is not available in this Node process. Install the "webgpu" npm package (npm ci does).';
  }
  return (
    'This browser does not offer WebGPU. Use a recent Chrome or Edge (version 113 or later), or Safari 26 / ' +
    'Firefox 141 or later; on Linux start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan.'
  );
}

export function noAdapterMessage(host: 'browser' | 'node'): string {
  if (host === 'node') {
    return (
      'No WebGPU adapter was found. Without a GPU, install Debian\'s "chromium" and "libvulkan1" packages ' +
      '(sudo apt-get install -y chromium libvulkan1) so that SwiftShader can be used through ' +
      'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json; with a GPU, install its Vulkan driver.'
    );
  }
  return (
    'WebGPU is present but no GPU adapter was given to this page. Check that hardware acceleration is ' +
    'enabled in the browser settings and that the GPU is not blocklisted (chrome://gpu shows why).'
  );
}
