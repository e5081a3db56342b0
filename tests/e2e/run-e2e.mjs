// End-to-end check in headless Chromium (SwiftShader WebGPU): serves the built app, opens it, and asserts that
// the page reports a WebGPU adapter and logs no console errors. Prints "N passed, N failed".
import { existsSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { preview } from 'vite';
import { benchChecks } from './bench.mjs';
import { labChecks } from './lab.mjs';
import { waitGpuReady } from './page.mjs';
import { probeChecks } from './probe.mjs';
import { teachChecks } from './teach.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

if (!existsSync(CHROMIUM)) {
  console.error(
    `e2e: no browser at ${CHROMIUM}. Install Debian's chromium: sudo apt-get install -y chromium`,
  );
  process.exit(1);
}

const server = await preview({
  preview: { port: 4318, strictPort: false, host: '127.0.0.1' },
  logLevel: 'warn',
});
const url = server.resolvedUrls.local[0];
const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
let passed = 0;
let failed = 0;
// E2E_ONLY=probe runs only the checks whose names match (a developer's shortcut; CI runs them all).
const only = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY, 'i') : undefined;
let filtered = 0;

async function check(name, fn) {
  if (only && !only.test(name)) {
    filtered++;
    return;
  }
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  try {
    await fn(page, errors);
    passed++;
    console.log(`  ✓ ${name}`);
  } catch (error) {
    failed++;
    console.log(
      `  ✗ ${name}\n    ${String(error?.message ?? error)
        .split('\n')
        .join('\n    ')}`,
    );
  } finally {
    await page.close();
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

try {
  await check('page finds a WebGPU adapter and renders without console errors', async (page, errors) => {
    await page.goto(url);
    const status = page.getByTestId('gpu-status');
    await status.waitFor();
    await page.waitForFunction(
      () => document.querySelector('[data-testid="gpu-status"]')?.getAttribute('data-state'),
      null,
      { timeout: 30_000 },
    );
    const state = await status.getAttribute('data-state');
    assert(state === 'ready', `expected a WebGPU adapter, page says: ${await status.innerText()}`);
    const label = await page.getByTestId('adapter-label').innerText();
    console.log(`    adapter in Chromium: ${label}`);
    assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
  });

  await check('without WebGPU the page explains what to do', async (page, errors) => {
    await page.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
    });
    await page.goto(url);
    await page.waitForFunction(
      () => document.querySelector('[data-testid="gpu-status"]')?.getAttribute('data-state'),
      null,
      { timeout: 30_000 },
    );
    const status = page.getByTestId('gpu-status');
    assert((await status.getAttribute('data-state')) === 'unavailable', 'page did not report missing WebGPU');
    const text = await status.innerText();
    assert(/Chrome|browser/i.test(text), `explanation lacks advice: ${text}`);
    assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
  });

  await check(
    'the mask-vanishing panel shows the paper figure counts (dense erodes, sparse keeps)',
    async (page, errors) => {
      await page.goto(url);
      // Counts from tests/fixtures/figures/README.md: masked pixels before, after 1 and 2 dense convs, after sparse.
      const expected = {
        spconv1: [182, 74, 2, 182],
        spconv2: [219, 61, 0, 219],
        spconv3: [132, 41, 1, 132],
      };
      for (const [name, counts] of Object.entries(expected)) {
        for (const [i, count] of counts.entries()) {
          const cell = page.getByTestId(`vanish-${name}-${i}`);
          await cell.waitFor({ timeout: 30_000 });
          const text = await cell.innerText();
          assert(
            text === `${count} masked`,
            `${name} column ${i}: expected "${count} masked", page shows "${text}"`,
          );
        }
        const drawn = await page.getByTestId(`vanish-${name}-canvas-3`).getAttribute('data-drawn');
        assert(drawn === 'true', `${name}: the sparse-conv canvas was not drawn`);
      }
      assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
    },
  );

  await check('invalid settings show the validator sentence and block Start', async (page, errors) => {
    await page.goto(url);
    await page.getByTestId('batch').fill('1');
    const message = await page.getByTestId('form-error').innerText();
    assert(/batch size must be a whole number of at least 2, got 1/.test(message), `form error: ${message}`);
    assert(await page.getByTestId('start').isDisabled(), 'Start stays enabled with a batch of 1');
    await page.getByTestId('batch').fill('8');
    await page.getByTestId('lr').fill('fast');
    const lr = await page.getByTestId('form-error').innerText();
    assert(/learning rate must be a positive number such as 1e-3, got "fast"/.test(lr), `lr error: ${lr}`);
    assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
  });

  await check(
    'the playground trains tiny on built-in Fashion-MNIST; exports carry official and timm names; a malformed weights file is refused with a sentence and loses nothing; a reload resumes the saved run',
    async (page, errors) => {
      await page.goto(url);
      await waitGpuReady(page);
      // Small and short: SwiftShader is slow (seconds per step). On a software adapter the UI reads metrics back
      // every step, so the first loss arrives after the first step.
      await page.getByTestId('preset').selectOption('tiny');
      await page.getByTestId('dataset').selectOption('fashion-mnist');
      await page.getByTestId('batch').fill('2');
      await page.getByTestId('steps').fill('3');
      await page.getByTestId('start').click();
      const loss = page.getByTestId('metric-loss');
      await loss.waitFor({ timeout: 90_000 });
      const lossValue = Number(await loss.innerText());
      assert(
        Number.isFinite(lossValue) && lossValue > 0,
        `the first loss is not a finite positive number: ${lossValue}`,
      );
      console.log(`    first loss ${lossValue} at step ${await page.getByTestId('metric-step').innerText()}`);
      await page.waitForFunction(
        () =>
          document.querySelector('[data-testid="recon-composite"]')?.getAttribute('data-drawn') === 'true',
        null,
        { timeout: 60_000 },
      );
      await page.waitForFunction(
        () => document.querySelector('[data-testid="run-status"]')?.getAttribute('data-state') === 'finished',
        null,
        { timeout: 60_000 },
      );
      const finished = page.locator('[data-testid="notice"][data-kind="finished"]');
      assert(/finished its 3 steps/.test(await finished.innerText()), 'no notice that the run finished');
      const stepBefore = await page.getByTestId('run-step').innerText();

      /** The tensor names in a safetensors file (8-byte little-endian header length, then JSON). */
      const tensorNames = (bytes) => {
        const length = Number(bytes.readBigUInt64LE(0));
        const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
        return Object.keys(header).filter((name) => name !== '__metadata__');
      };
      const exportWeights = async () => {
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          page.getByTestId('export-weights').click(),
        ]);
        const path = await download.path();
        return readFileSync(path);
      };
      const before = await exportWeights();
      const names = tensorNames(before);
      assert(
        names.some((n) => n.startsWith('sparse_encoder.sp_cnn.')) &&
          names.some((n) => n.startsWith('dense_decoder.')),
        `the weights export lacks the official SparK names: ${names.slice(0, 5).join(', ')}`,
      );
      const [encoderDownload] = await Promise.all([
        page.waitForEvent('download'),
        page.getByTestId('export-encoder').click(),
      ]);
      const encoderNames = tensorNames(readFileSync(await encoderDownload.path()));
      assert(
        encoderNames.length > 0 &&
          encoderNames.every((n) => !/^(sparse_encoder|dense_decoder|densify_)/.test(n)),
        `the encoder export is not timm-style: ${encoderNames.slice(0, 5).join(', ')}`,
      );
      await page.getByTestId('import-weights').setInputFiles({
        name: 'broken.safetensors',
        mimeType: 'application/octet-stream',
        buffer: Buffer.from('this is not a safetensors file'),
      });
      const notice = page.locator('[data-testid="notice"][data-kind="import-refused"]');
      await notice.waitFor({ timeout: 30_000 });
      const text = await notice.innerText();
      assert(
        /^broken\.safetensors was not loaded: .+\. The current weights are unchanged\./.test(text),
        `import notice: ${text}`,
      );
      const after = await exportWeights();
      assert(before.equals(after), 'the weights changed after a refused import');
      assert(
        (await page.getByTestId('run-step').innerText()) === stepBefore,
        'the step changed after a refused import',
      );

      // The finished run was checkpointed to IndexedDB: a reload offers it, and resuming restores its step.
      await page.reload();
      await page.getByTestId('resume-saved').first().click({ timeout: 30_000 });
      await page.waitForFunction(
        () => document.querySelector('[data-testid="run-status"]')?.getAttribute('data-state') === 'paused',
        null,
        { timeout: 60_000 },
      );
      const resumedStep = await page.getByTestId('run-step').innerText();
      assert(resumedStep === stepBefore, `resumed at step ${resumedStep}, saved at ${stepBefore}`);
      await page.waitForFunction(
        () =>
          document.querySelector('[data-testid="recon-composite"]')?.getAttribute('data-drawn') === 'true',
        null,
        { timeout: 60_000 },
      );
      const resumed = await exportWeights();
      assert(resumed.equals(before), 'the resumed weights differ from the saved ones');
      assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
    },
  );

  await check(
    'user images: picked and dropped files are decoded in the worker; bad ones are listed with a reason',
    async (page, errors) => {
      await page.goto(url);
      await page.getByTestId('add-images').setInputFiles([
        {
          name: 'camera.png',
          mimeType: 'image/png',
          buffer: readFileSync(new URL('../../public/data/photos/camera.png', import.meta.url)),
        },
        { name: 'empty.png', mimeType: 'image/png', buffer: Buffer.alloc(0) },
      ]);
      await page.getByTestId('images-summary').waitFor({ timeout: 30_000 });
      // A drop: the same path the browser takes when files are dragged onto the zone.
      await page.getByTestId('dropzone').evaluate((zone) => {
        const data = new DataTransfer();
        data.items.add(new File(['just some notes'], 'notes.txt', { type: 'text/plain' }));
        zone.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
      });
      await page.waitForFunction(
        () => document.querySelectorAll('[data-testid="skipped-files"] li').length === 2,
        null,
        { timeout: 30_000 },
      );
      const summary = await page.getByTestId('images-summary').innerText();
      assert(/^1 image ready/.test(summary), `summary: ${summary}`);
      const reasons = await page.locator('[data-testid="skipped-files"] li').allInnerTexts();
      assert(reasons[0].startsWith('empty.png was skipped because '), `first reason: ${reasons[0]}`);
      assert(reasons[1].startsWith('notes.txt was skipped because '), `second reason: ${reasons[1]}`);
      console.log(`    ${reasons.join(' | ')}`);
      assert(
        (await page.getByTestId('dataset').inputValue()) === 'user',
        'the data choice did not switch to the added images',
      );
      // A .pth of an architecture no preset has opens for viewing: the worker infers it from the tensor names
      // and shapes and shows reconstructions of the added image and built-in photos, without a run.
      await page.getByTestId('open-checkpoint').setInputFiles({
        name: 'view-convnext-custom.pth',
        mimeType: 'application/octet-stream',
        buffer: readFileSync(new URL('../fixtures/pth/view-convnext-custom.pth', import.meta.url)),
      });
      await page.waitForFunction(
        () =>
          document.querySelector('[data-testid="checkpoint-view-grid"]')?.getAttribute('data-drawn') ===
          'true',
        null,
        { timeout: 120_000 },
      );
      const viewed = await page.getByTestId('checkpoint-view-description').innerText();
      assert(
        /^ConvNeXt \(dims 8-16, depths 1-2\), 32 px, decoder width 16/.test(viewed),
        `viewer: ${viewed}`,
      );
      console.log(`    ${viewed}`);
      assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
    },
  );

  await check(
    'the built page enforces its Content-Security-Policy: no inline script, same origin only',
    async (page, errors) => {
      const violations = [];
      await page.exposeFunction('reportCspViolation', (v) => violations.push(v));
      await page.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', (e) =>
          window.reportCspViolation(`${e.violatedDirective} ${e.blockedURI}`),
        );
      });
      await page.goto(url);
      await page.waitForFunction(
        () => document.querySelector('[data-testid="gpu-status"]')?.getAttribute('data-state'),
        null,
        { timeout: 30_000 },
      );
      const policy = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
      assert(policy?.includes("script-src 'self'") && !policy.includes('unsafe-eval'), `policy: ${policy}`);
      const inlineScripts = await page.locator('script:not([src])').count();
      assert(inlineScripts === 0, `${inlineScripts} inline scripts in the built page`);
      // The page itself ran with no violation; an injected inline script and a foreign fetch are refused.
      assert(violations.length === 0, `violations while loading: ${violations.join(' | ')}`);
      const ran = await page.evaluate(() => {
        const script = document.createElement('script');
        script.textContent = 'window.__inlineRan = true';
        document.body.append(script);
        return window.__inlineRan === true;
      });
      assert(!ran, 'an injected inline script ran');
      const fetched = await page.evaluate(() =>
        fetch('https://example.com/').then(
          () => 'fetched',
          () => 'refused',
        ),
      );
      assert(fetched === 'refused', 'a cross-origin fetch was allowed');
      await page.waitForTimeout(200);
      assert(
        violations.some((v) => v.startsWith('script-src')),
        `no script-src violation: ${violations.join(' | ')}`,
      );
      assert(
        violations.some((v) => v.startsWith('connect-src')),
        `no connect-src violation: ${violations.join(' | ')}`,
      );
      // The violations above were provoked on purpose; Chromium logs each as a console error.
      errors.length = 0;
    },
  );
  await teachChecks({ browser, check, assert, url, flags: FLAGS, executablePath: CHROMIUM });
  await labChecks({ check, assert, url, browser });
  await probeChecks({ check, assert, url });
  await benchChecks({ check, assert });
} finally {
  await browser.close();
  await new Promise((resolve) => server.httpServer.close(resolve));
}

console.log(
  `e2e: ${passed} passed, ${failed} failed${filtered > 0 ? ` (${filtered} left out by E2E_ONLY)` : ''}`,
);
process.exit(failed === 0 ? 0 : 1);
