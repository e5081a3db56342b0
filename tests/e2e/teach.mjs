// Checks of the teaching layer (issue #13), run by run-e2e.mjs: the page without WebGPU, Figure 2's active
// sites and cost meter, a drawn Figure 3 mask, the reconstruction views on a running page, the tour, the webcam
// with Chromium's fake camera, the 360-px layout, and axe on the start, running and no-WebGPU pages. Saves the
// README's panel screenshots to docs/img/.
import { mkdirSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium } from 'playwright-core';
import { waitGpuReady } from './page.mjs';

const IMG = new URL('../../docs/img/', import.meta.url);

/** Serious or critical axe violations on the page, as readable lines. */
async function axeProblems(page) {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} (${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 3)
          .join(', ')})`,
    );
}

/**
 * A page in its own browser context (AxeBuilder needs one), reporting console errors into `errors`; closed by
 * the returned `close`.
 */
async function contextPage(browser, errors) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  return { page, close: () => context.close() };
}

async function screenshot(locator, name) {
  mkdirSync(IMG, { recursive: true });
  // The sticky run bar would cover the top of a panel scrolled into view.
  await locator.screenshot({ path: new URL(name, IMG).pathname, style: '.run-bar { position: static; }' });
}

const NO_WEBGPU = () => {
  Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
};

/** Python's round (half to even) of g²·(1 − r): the visible cells of a 4×4 grid, written out by hand. */
const TINY_VISIBLE = { 0.4: 10, 0.6: 6, 0.8: 3 };
const TINY_STRIDES = [2, 4, 8];
const TINY_CELL_SIDE = 8;

async function setRatio(page, value) {
  await page.getByTestId('mask-ratio').fill(String(value));
  await page.waitForFunction(
    (v) => document.querySelector('[data-testid="mask-ratio-value"]')?.textContent === v,
    Number(value).toFixed(2),
  );
}

export async function teachChecks({ browser, check, assert, url, flags, executablePath }) {
  await check(
    'without WebGPU: Figures 1–3 render from the CPU, Start is disabled with its reason, axe finds nothing serious',
    async (_, errors) => {
      const { page, close } = await contextPage(browser, errors);
      try {
        await page.setViewportSize({ width: 1280, height: 800 });
        await page.addInitScript(NO_WEBGPU);
        await page.goto(url);
        const reason = page.getByTestId('start-disabled-reason');
        await reason.waitFor({ timeout: 30_000 });
        const text = await reason.innerText();
        assert(
          /WebGPU/.test(text) && /Chrome|Edge|browser/.test(text) && /npm run train/.test(text),
          `reason: ${text}`,
        );
        assert(await page.getByTestId('start').isDisabled(), 'Start is enabled without WebGPU');
        // Figure 1 from the held-out example images: zero-masking moves the distribution far more than hiding does.
        await page.getByTestId('hist-zero-masked').waitFor({ timeout: 30_000 });
        const klZero = Number(await page.getByTestId('hist-zero-masked').getAttribute('data-kl'));
        const klVisible = Number(await page.getByTestId('hist-visible-only').getAttribute('data-kl'));
        assert(
          klZero > 0 && klVisible >= 0 && klZero > 5 * klVisible,
          `KL zero ${klZero}, visible ${klVisible}`,
        );
        // Figure 2 and the mask-ratio preview follow the slider without a GPU.
        await setRatio(page, 0.8);
        await page.waitForFunction(
          () =>
            document.querySelector('[data-testid="sparse-view"]')?.getAttribute('data-visible-cells') ===
              '3' &&
            document.querySelector('[data-testid="mask-preview"]')?.getAttribute('data-visible-cells') ===
              '3' &&
            document.querySelector('[data-testid="mask-preview"]')?.getAttribute('data-drawn') === 'true',
          null,
          { timeout: 30_000 },
        );
        const lab = page.getByTestId('vanish-lab');
        await page.getByTestId('vanish-custom-sparse').waitFor({ timeout: 30_000 });
        assert((await lab.getAttribute('data-backend')) === 'cpu', 'Figure 3 does not say it ran on the CPU');
        assert(
          (await page.getByTestId('vanish-spconv1-3').innerText()) === '182 masked',
          'the paper figure counts are missing',
        );
        const problems = await axeProblems(page);
        assert(problems.length === 0, `axe, no-WebGPU page:\n${problems.join('\n')}`);
        await page.evaluate(() => window.scrollTo(0, 0));
        await screenshot(page, 'no-webgpu.png');
        assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
      } finally {
        await close();
      }
    },
  );

  await check(
    'Figure 2 rows per stride and the cost meter follow the ratio; a drawn Figure 3 mask survives sparse convs, not dense ones (GPU kernel); then running: recon views official/no-leak, measured times; at 360 px no sideways scroll and 44-px targets; axe on the start and running pages',
    async (_, errors) => {
      const { page, close } = await contextPage(browser, errors);
      try {
        await page.setViewportSize({ width: 1280, height: 800 });
        await page.addInitScript(() => localStorage.setItem('sparklab.tour-done', '1'));
        await page.goto(url);
        await page.getByTestId('preset').selectOption('tiny');
        let previous = Number.POSITIVE_INFINITY;
        for (const [ratio, visible] of Object.entries(TINY_VISIBLE)) {
          await setRatio(page, ratio);
          await page.waitForFunction(
            (v) =>
              document.querySelector('[data-testid="sparse-view"]')?.getAttribute('data-visible-cells') === v,
            String(visible),
            { timeout: 30_000 },
          );
          for (const stride of TINY_STRIDES) {
            const rows = Number(
              await page.getByTestId(`sparse-view-scale-${stride}`).getAttribute('data-rows'),
            );
            const expected = visible * (TINY_CELL_SIDE / stride) ** 2;
            assert(rows === expected, `ratio ${ratio}, stride ${stride}: ${rows} rows, expected ${expected}`);
          }
          const cost = Number(await page.getByTestId('cost-meter').getAttribute('data-encoder-ratio'));
          assert(
            cost < previous,
            `the encoder cost did not fall at ratio ${ratio}: ${cost} after ${previous}`,
          );
          assert(Math.abs(cost - visible / 16) < 1e-3, `encoder ratio ${cost} at ${visible}/16 visible`);
          previous = cost;
        }
        await setRatio(page, 0.6);

        // Draw on an all-visible grid with the keyboard: a horizontal line of 3 masked pixels in row 6.
        await page.getByTestId('vanish-source').selectOption('clear');
        const editor = page.getByTestId('vanish-editor');
        await page.waitForFunction(
          () => document.querySelector('[data-testid="vanish-editor"]')?.dataset.masked === '0',
        );
        await editor.focus();
        for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowDown');
        for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowRight');
        for (let i = 0; i < 3; i++) {
          await page.keyboard.press('Space');
          await page.keyboard.press('ArrowRight');
        }
        await page.getByTestId('vanish-depth').selectOption('2');
        await page.waitForFunction(
          () =>
            document.querySelector('[data-testid="vanish-custom-sparse"]')?.getAttribute('data-masked') ===
              '3' && document.querySelector('[data-testid="vanish-custom-dense-2"]') !== null,
          null,
          { timeout: 30_000 },
        );
        const dense1 = Number(await page.getByTestId('vanish-custom-dense-1').getAttribute('data-masked'));
        const dense2 = Number(await page.getByTestId('vanish-custom-dense-2').getAttribute('data-masked'));
        // Every pixel of a 1-px line touches a visible pixel, so one dense conv fills it all.
        assert(
          dense1 === 0 && dense2 === 0,
          `dense convs left ${dense1} and ${dense2} masked pixels of the line`,
        );
        const backend = await page.getByTestId('vanish-lab').getAttribute('data-backend');
        assert(backend === 'gpu', `Figure 3 ran on ${backend}, expected the GPU kernel`);
        const problems = await axeProblems(page);
        assert(problems.length === 0, `axe, start page:\n${problems.join('\n')}`);
        for (const [testId, name] of [
          ['sparse-view', 'panel-sparse-view.png'],
          ['vanish-lab', 'panel-vanish-lab.png'],
          ['mask-vanishing', 'panel-vanishing.png'],
        ])
          await screenshot(page.getByTestId(testId), name);
        await screenshot(page.locator('[data-tour="histograms"]'), 'panel-histograms.png');
        await screenshot(page.locator('[data-tour="controls"]'), 'panel-settings.png');

        // The same page, running: one step of tiny on the software adapter.
        await waitGpuReady(page);
        await page.getByTestId('preset').selectOption('tiny');
        await page.getByTestId('batch').fill('2');
        await page.getByTestId('steps').fill('1');
        await page.getByTestId('start').click();
        await page.waitForFunction(
          () =>
            document.querySelector('[data-testid="recon-composite"]')?.getAttribute('data-drawn') === 'true',
          null,
          { timeout: 90_000 },
        );
        const running = await axeProblems(page);
        assert(running.length === 0, `axe, running page:\n${running.join('\n')}`);
        await page.waitForFunction(
          () =>
            document.querySelector('[data-testid="run-status"]')?.getAttribute('data-state') === 'finished',
          null,
          { timeout: 90_000 },
        );
        // The watch set is evaluated when the run finishes; both its and the batch's reconstruction follow the view.
        await page.waitForFunction(
          () => document.querySelector('[data-testid="watch-recon"]')?.getAttribute('data-drawn') === 'true',
          null,
          { timeout: 60_000 },
        );
        const pixels = () =>
          page.evaluate(() =>
            ['recon-composite', 'watch-recon'].map((id) =>
              document.querySelector(`[data-testid="${id}"]`)?.toDataURL(),
            ),
          );
        const official = await pixels();
        await page.getByTestId('recon-mode').selectOption('no-leak');
        await page.waitForFunction(
          (before) =>
            ['recon-composite', 'watch-recon'].every(
              (id, i) => document.querySelector(`[data-testid="${id}"]`)?.toDataURL() !== before[i],
            ),
          official,
        );
        const caption = await page.getByTestId('recon-mode-caption').innerText();
        assert(/visible/.test(caption), `no-leak caption: ${caption}`);
        const measured = await page.getByTestId('cost-measured').innerText();
        assert(/ms/.test(measured), `no measured time in the cost meter: ${measured}`);
        await screenshot(page.locator('[data-tour="reconstruction"]'), 'panel-reconstruction.png');

        // At 360×740 after the run: nothing scrolls sideways and touch targets are 44 px tall.
        await page.setViewportSize({ width: 360, height: 740 });
        await page.getByTestId('sparse-view').waitFor({ timeout: 30_000 });
        await page.getByTestId('vanish-custom-sparse').waitFor({ timeout: 30_000 });
        const [scrollWidth, width] = await page.evaluate(() => [
          document.documentElement.scrollWidth,
          innerWidth,
        ]);
        assert(scrollWidth <= width, `the page is ${scrollWidth} px wide in a ${width}-px window`);
        const short = await page.evaluate(() =>
          [...document.querySelectorAll('button, select')]
            .filter((e) => e.offsetParent !== null && e.getBoundingClientRect().height < 43.5)
            .map((e) => e.textContent?.trim().slice(0, 30) || e.getAttribute('data-testid')),
        );
        assert(short.length === 0, `controls under 44 px: ${short.join(', ')}`);
        await page.evaluate(() => window.scrollTo(0, 0));
        await screenshot(page, 'phone-360.png');
        assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
      } finally {
        await close();
      }
    },
  );

  await check(
    'a scenario sets its runs up through the link: one link per run, a link opens its settings, and the runs are queued',
    async (_, errors) => {
      const { page, close } = await contextPage(browser, errors);
      try {
        await page.addInitScript(() => localStorage.setItem('sparklab.tour-done', '1'));
        await page.goto(url);
        await waitGpuReady(page);
        await page.getByTestId('scenario-select').selectOption('mask-ratio');
        const links = await page.getByTestId('scenario-run-link').evaluateAll((a) => a.map((e) => e.href));
        const ratios = links.map((href) => new URLSearchParams(new URL(href).hash.slice(1)).get('mask'));
        assert(ratios.join(' ') === '0.4 0.6 0.8', `the scenario's links carry ratios ${ratios.join(', ')}`);
        const opened = await page.context().newPage();
        await opened.goto(links[2]);
        await opened.getByTestId('mask-ratio-value').waitFor();
        const shown = [
          await opened.getByTestId('mask-ratio-value').innerText(),
          await opened.getByTestId('preset').inputValue(),
        ];
        assert(shown.join(' ') === '0.80 tiny', `the third link opened ${shown.join(' ')}`);
        await opened.close();
        await page.getByTestId('scenario-queue').click();
        await page.waitForFunction(
          () => document.querySelectorAll('[data-testid="run-row"]').length === 3,
          null,
          {
            timeout: 30_000,
          },
        );
        const states = await page
          .getByTestId('run-row')
          .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-state')));
        assert(
          states.filter((s) => s === 'queued').length >= 2,
          `after queueing, the runs are ${states.join(', ')}`,
        );
        assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
      } finally {
        await close();
      }
    },
  );

  await check(
    'the tour runs, and stays dismissed after a reload; the Tour button reopens it',
    async (page, errors) => {
      await page.setViewportSize({ width: 1280, height: 800 });
      // Without animations (the page honours reduced motion) the popover is not rebuilt under the clicks.
      await page.emulateMedia({ reducedMotion: 'reduce' });
      await page.goto(url);
      await page.getByTestId('tour-invite').waitFor({ timeout: 30_000 });
      await page.getByTestId('tour').click();
      const title = page.locator('.driver-popover-title');
      await title.waitFor();
      const first = await title.innerText();
      await page.getByTestId('tour-next').click();
      await page.waitForFunction(
        (t) => document.querySelector('.driver-popover-title')?.textContent !== t,
        first,
      );
      await page.getByTestId('tour-close').click();
      await page.waitForFunction(
        () =>
          !document.querySelector('.driver-popover') && localStorage.getItem('sparklab.tour-done') === '1',
      );
      await page.reload();
      await page.getByTestId('tour').waitFor();
      await page.waitForTimeout(300);
      assert(
        (await page.getByTestId('tour-invite').count()) === 0,
        'the invitation came back after a reload',
      );
      assert(
        (await page.locator('.driver-popover').count()) === 0,
        'the tour reopened by itself after a reload',
      );
      await page.getByTestId('tour').click();
      await title.waitFor();
      assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
    },
  );

  await check(
    'a panel that fails shows a sentence and the others keep working (canvas writes blocked)',
    async (page) => {
      await page.addInitScript(() => {
        localStorage.setItem('sparklab.tour-done', '1');
        // What a privacy extension that blocks canvas pixel access does to every picture on the page.
        CanvasRenderingContext2D.prototype.putImageData = () => {
          throw new Error('canvas pixel access is blocked');
        };
      });
      await page.goto(url);
      await page.getByTestId('panel-error').first().waitFor({ timeout: 30_000 });
      const text = await page.getByTestId('panel-error').first().innerText();
      assert(/canvas pixel access is blocked/.test(text) && /still works/.test(text), `panel error: ${text}`);
      await page.getByTestId('hist-zero-masked').waitFor({ timeout: 30_000 });
      // The settings still drive the panels that work: the histograms follow the slider.
      await setRatio(page, 0.8);
      await page.waitForFunction(
        () =>
          /mask ratio 0\.80/.test(document.querySelector('[data-tour="histograms"] h2')?.textContent ?? ''),
        null,
        { timeout: 10_000 },
      );
    },
  );

  // The fake camera needs its own browser: the flags apply to the whole process.
  const camera = await chromium.launch({
    executablePath,
    args: [...flags, '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
    headless: true,
  });
  try {
    await check(
      'webcam: frames from the (fake) camera join the training images, marked not reproducible; the run reconstructs the live frame',
      async (_, errors) => {
        const page = await camera.newPage();
        page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
        await page.addInitScript(() => localStorage.setItem('sparklab.tour-done', '1'));
        await page.goto(url);
        await page.getByTestId('webcam-toggle').click();
        await page.waitForFunction(
          () =>
            Number(document.querySelector('[data-testid="webcam-status"]')?.getAttribute('data-frames')) >= 1,
          null,
          { timeout: 30_000 },
        );
        const summary = await page.getByTestId('images-summary').innerText();
        assert(/^1 image ready|^\d+ images ready/.test(summary), `images: ${summary}`);
        const notice = await page.locator('[data-testid="notice"][data-kind="webcam"]').innerText();
        assert(/cannot be reproduced/.test(notice), `webcam notice: ${notice}`);
        // "Reconstruct me": says there is no run, then draws the live frame once one exists.
        assert(
          await page.getByTestId('webcam-recon-none').isVisible(),
          'no "no run yet" line for the webcam',
        );
        await page.getByTestId('preset').selectOption('tiny');
        await page.getByTestId('batch').fill('2');
        await page.getByTestId('steps').fill('1');
        await page.getByTestId('start').click();
        await page.waitForFunction(
          () => document.querySelector('[data-testid="webcam-recon"]')?.getAttribute('data-drawn') === 'true',
          null,
          { timeout: 60_000 },
        );
        await page.getByTestId('webcam-toggle').click();
        assert(
          (await page.getByTestId('webcam-toggle').getAttribute('aria-pressed')) === 'false',
          'camera still on',
        );
        await page.close();
        assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
      },
    );
  } finally {
    await camera.close();
  }
}
