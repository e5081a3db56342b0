/**
 * The browser halves of the data pipeline and checkpoint storage, run for real in headless Chromium (the
 * browser the e2e tests use): createImageBitmap decoding on the page and in a module worker, the built-in
 * loaders over fetch + DecompressionStream, and the IndexedDB checkpoint store. Results are compared with
 * the Node decoders on the same files.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type Browser, chromium, type Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageNode } from './decode-node';
import { probeImage, type RgbImage } from './image';
import { jpegBytes, png16Bytes, pngBytes, withOrientation } from './test-images';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = new URL('../../', import.meta.url).pathname;

let server: ViteDevServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `No browser at ${CHROMIUM}: install Debian's chromium (sudo apt-get install -y chromium).`,
    );
  }
  server = await createServer({
    root: ROOT,
    configFile: `${ROOT}vite.config.ts`,
    server: { port: 4390, strictPort: false, host: '127.0.0.1' },
    logLevel: 'error',
    // The modules under test import no npm packages: skip dependency discovery and pre-bundling.
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await server.listen();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
  page = await browser.newPage();
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  // Any same-origin document will do; the app page itself would pull in React for nothing.
  await page.goto(`${server.resolvedUrls!.local[0]}data/LICENSES.md`);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/**
 * Page code is sent as text: Vitest rewrites dynamic imports in this file's own functions, and the page
 * must import the modules from the dev server itself.
 */
// biome-ignore lint/suspicious/noExplicitAny: the page returns plain JSON whose shape each test states.
function inPage(body: string): any {
  return `(async () => {${body}})()`;
}

async function nodeDecode(name: string): Promise<RgbImage> {
  const bytes = new Uint8Array(await readFile(`${ROOT}public/data/photos/${name}`));
  const probe = probeImage(bytes);
  if (!probe.ok) throw new Error(probe.reason);
  return decodeImageNode(bytes, probe.header);
}

describe('in Chromium', () => {
  it('decodes PNG (colour, grey) and JPEG like the Node decoders, on the page and in a module worker', async () => {
    const decoded: Record<string, { width: number; height: number; data: string }> = await page.evaluate(
      inPage(`
      const { decodeImageBrowser, fetchBytes } = await import('/src/data/decode-browser.ts');
      const { probeImage } = await import('/src/data/image.ts');
      // Base64: a few MB of pixels as one string crosses the DevTools protocol far faster than a number array.
      const base64 = (bytes) => {
        let text = '';
        for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(text);
      };
      const out = {};
      for (const name of ['astronaut.png', 'camera.png', 'rocket.jpg']) {
        const bytes = await fetchBytes(\`/data/photos/\${name}\`);
        const image = await decodeImageBrowser(bytes, probeImage(bytes).header);
        out[name] = { width: image.width, height: image.height, data: base64(image.data) };
      }
      const source = \`
        import { decodeImageBrowser, fetchBytes } from '\${location.origin}/src/data/decode-browser.ts';
        import { probeImage } from '\${location.origin}/src/data/image.ts';
        const bytes = await fetchBytes('\${location.origin}/data/photos/coins.png');
        const image = await decodeImageBrowser(bytes, probeImage(bytes).header);
        postMessage({ width: image.width, height: image.height, data: image.data });\`;
      const worker = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })), { type: 'module' });
      out['coins.png'] = await new Promise((resolve, reject) => {
        worker.onmessage = (event) => resolve({ ...event.data, data: base64(event.data.data) });
        worker.onerror = (event) => reject(new Error(event.message));
      });
      worker.terminate();
      return out;
    `),
    );
    for (const name of ['astronaut.png', 'camera.png', 'coins.png']) {
      const node = await nodeDecode(name);
      expect([decoded[name].width, decoded[name].height]).toEqual([node.width, node.height]);
      expect(Buffer.from(decoded[name].data, 'base64').equals(Buffer.from(node.data)), name).toBe(true);
    }
    // JPEG decoders differ in their IDCT rounding: a few levels at most.
    const node = await nodeDecode('rocket.jpg');
    const browserJpeg = Buffer.from(decoded['rocket.jpg'].data, 'base64');
    let worst = 0;
    for (let i = 0; i < node.data.length; i++)
      worst = Math.max(worst, Math.abs(node.data[i] - browserJpeg[i]));
    expect(worst).toBeLessThanOrEqual(8);
    expect(pageErrors).toEqual([]);
  });

  it('decodes alpha, grey+alpha, 16-bit and an EXIF-rotated JPEG like the Node path', async () => {
    const rgba = Array.from({ length: 6 * 4 * 4 }, (_, i) =>
      i % 4 === 3 ? [0, 64, 128, 200, 255][i % 5] : (i * 37) % 256,
    );
    const files: Record<string, Uint8Array> = {
      'rgba.png': pngBytes(6, 4, rgba, { colorType: 6 }),
      'grey-alpha.png': pngBytes(6, 4, rgba, { colorType: 4 }),
      'deep.png': png16Bytes(
        3,
        2,
        Array.from({ length: 18 }, (_, i) => (i * 7919) % 65536),
      ),
      'portrait.jpg': withOrientation(
        jpegBytes(16, 8, (x, y) => [x * 16, y * 30, 200]),
        6,
      ),
    };
    const encoded = Object.fromEntries(
      Object.entries(files).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    );
    const decoded: Record<string, { width: number; height: number; data: string }> = await page.evaluate(
      inPage(`
      const { decodeImageBrowser } = await import('/src/data/decode-browser.ts');
      const { probeImage } = await import('/src/data/image.ts');
      const files = ${JSON.stringify(encoded)};
      const out = {};
      for (const [name, text] of Object.entries(files)) {
        const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
        const image = await decodeImageBrowser(bytes, probeImage(bytes).header);
        out[name] = { width: image.width, height: image.height, data: btoa(String.fromCharCode(...image.data)) };
      }
      return out;
    `),
    );
    for (const [name, bytes] of Object.entries(files)) {
      const probe = probeImage(bytes);
      if (!probe.ok) throw new Error(probe.reason);
      const node = await decodeImageNode(bytes, probe.header);
      const browserPixels = Buffer.from(decoded[name].data, 'base64');
      expect([decoded[name].width, decoded[name].height], name).toEqual([node.width, node.height]);
      let worst = 0;
      for (let i = 0; i < node.data.length; i++)
        worst = Math.max(worst, Math.abs(node.data[i] - browserPixels[i]));
      // Canvas readback rounds partially transparent pixels through premultiplication; JPEG IDCTs differ.
      expect(worst, name).toBeLessThanOrEqual(name.endsWith('.jpg') ? 8 : 2);
    }
  });

  it('loads the built-in datasets over fetch and DecompressionStream', async () => {
    const result: { photos: number[]; photoBatch: number[]; fashion: number[]; fashionHeldOut: number[] } =
      await page.evaluate(
        inPage(`
      const { photoDatasetBrowser, fashionMnistDatasetBrowser } = await import('/src/data/builtin-browser.ts');
      const { Rng } = await import('/src/util/random.ts');
      const photos = await photoDatasetBrowser({ imageSize: 32 });
      const fashion = await fashionMnistDatasetBrowser({ imageSize: 32 });
      return {
        photos: [photos.trainCount, photos.heldOutCount],
        photoBatch: Array.from(photos.trainBatch(2, new Rng(5))),
        fashion: [fashion.trainCount, fashion.heldOutCount],
        fashionHeldOut: Array.from(fashion.heldOutBatch(2)),
      };
    `),
      );
    expect(result.photos).toEqual([10, 2]);
    expect(result.fashion).toEqual([9000, 1000]);
    const { fashionMnistDatasetNode } = await import('./builtin-node');
    const fashionNode = await fashionMnistDatasetNode({ imageSize: 32 });
    // Same bytes, same arithmetic: identical held-out batches in both hosts.
    expect(result.fashionHeldOut).toEqual(Array.from(fashionNode.heldOutBatch(2)));
    expect(result.photoBatch.every(Number.isFinite)).toBe(true);
  });

  it('stores, replaces, lists and deletes checkpoints in IndexedDB', async () => {
    const result = await page.evaluate(
      inPage(`
      const { IndexedDbCheckpointStore } = await import('/src/io/checkpoint-store-idb.ts');
      const store = new IndexedDbCheckpointStore(\`test-\${Math.random()}\`);
      await store.save('a', new Uint8Array([1, 2, 3]), { step: 1 });
      await store.save('big', new Uint8Array(4 << 20).fill(7), { step: 2, rng: [1, 2] });
      await store.save('a', new Uint8Array([4, 5]), { step: 3 });
      const a = await store.load('a');
      const big = await store.load('big');
      const listed = (await store.list()).map((c) => c.name);
      const deleted = [await store.delete('a'), await store.delete('a')];
      let missing = '';
      try {
        await store.load('a');
      } catch (error) {
        missing = error.message;
      }
      return {
        a: Array.from(a.bytes),
        aMeta: a.info.meta,
        bigLength: big.bytes.length,
        bigLast: big.bytes[big.bytes.length - 1],
        bigMeta: big.info.meta,
        listed,
        deleted,
        after: (await store.list()).map((c) => c.name),
        missing,
      };
    `),
    );
    expect(result).toEqual({
      a: [4, 5],
      aMeta: { step: 3 },
      bigLength: 4 << 20,
      bigLast: 7,
      bigMeta: { step: 2, rng: [1, 2] },
      listed: ['a', 'big'],
      deleted: [true, false],
      after: ['big'],
      missing: 'There is no checkpoint named "a".',
    });
  });
});
