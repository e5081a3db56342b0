// Checks what the tests (or, with --app, the playground) need on this machine and says exactly what to
// install when something is missing. Exits non-zero on a missing requirement.
import { existsSync } from 'node:fs';

const forApp = process.argv.includes('--app');
const problems = [];
const [major] = process.versions.node.split('.').map(Number);
if (major < 20) problems.push(`Node ${process.versions.node} is too old: SparkLab needs Node 20 or later.`);
if (!existsSync(new URL('../node_modules/vite/package.json', import.meta.url))) {
  problems.push('Dependencies are not installed: run `npm ci` (or `npm install`).');
}

if (!forApp && process.platform === 'linux') {
  const hasGpu = existsSync('/dev/dri/renderD128') || existsSync('/dev/nvidia0');
  const icd = process.env.VK_ICD_FILENAMES;
  const hasLoader = [
    '/usr/lib/x86_64-linux-gnu/libvulkan.so.1',
    '/usr/lib/aarch64-linux-gnu/libvulkan.so.1',
    '/usr/lib/libvulkan.so.1',
  ].some(existsSync);
  if (!hasLoader)
    problems.push('The Vulkan loader is missing (Dawn needs it): sudo apt-get install -y libvulkan1');
  if (!existsSync('/usr/bin/chromium')) {
    problems.push(
      "Debian's chromium is missing: it provides the SwiftShader Vulkan driver for GPU tests without a GPU " +
        'and the browser for the end-to-end tests: sudo apt-get install -y chromium',
    );
  } else if (!hasGpu && !icd && !existsSync('/usr/lib/chromium/vk_swiftshader_icd.json')) {
    problems.push('/usr/lib/chromium/vk_swiftshader_icd.json is missing: reinstall chromium.');
  }
}

if (problems.length > 0) {
  console.error('SparkLab cannot run yet:');
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
