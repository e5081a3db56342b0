// The lab's end-to-end checks (issue #12), run by run-e2e.mjs: kept runs compared on nested masks, ablations
// reaching the worker, the CPU mask preview, hand-edited masks, links, downloads. Tiny, batch 2, 2 steps per
// run: SwiftShader takes seconds per step.
import { mkdirSync, readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { waitGpuReady } from './page.mjs';

const TRAIN_TIMEOUT = 240_000;

/** PNG signature and IHDR size of a file, or a sentence saying what is wrong. */
function pngSize(bytes) {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (!signature.every((b, i) => bytes[i] === b)) throw new Error('not a PNG (bad signature)');
  if (bytes.subarray(12, 16).toString('latin1') !== 'IHDR') throw new Error('PNG without IHDR first');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

async function download(page, testId) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testId).click()]);
  return { name: file.suggestedFilename(), bytes: readFileSync(await file.path()) };
}

/** Canvas pixels as a data URL (to tell two drawings apart). */
const pixels = (page, testId) => page.getByTestId(testId).evaluate((canvas) => canvas.toDataURL());

export async function labChecks({ check, assert, url, browser }) {
  await check(
    'lab: the mask-ratio slider redraws mask-preview at once, before any run',
    async (page, errors) => {
      await page.goto(url);
      const preview = page.getByTestId('mask-preview');
      await preview.waitFor({ timeout: 30_000 });
      assert(
        (await preview.getAttribute('data-visible-cells')) === '6',
        'tiny at 0.6 should keep 6 of 16 cells',
      );
      const before = await pixels(page, 'mask-preview');
      await page.getByTestId('mask-ratio').fill('0.25');
      await page.waitForFunction(
        () =>
          document.querySelector('[data-testid="mask-preview"]')?.getAttribute('data-visible-cells') === '12',
        null,
        { timeout: 5_000 },
      );
      assert(
        (await pixels(page, 'mask-preview')) !== before,
        'the preview pixels did not change with the ratio',
      );
      assert(
        (await page.getByTestId('run-status').getAttribute('data-state')) === 'unconfigured',
        'a run started',
      );
      assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
    },
  );

  await check(
    'lab: a link opened in a fresh page restores every setting; a bad hash shows a notice and keeps defaults',
    async (page, errors) => {
      await page.goto(url);
      await page.getByTestId('mask-ratio').fill('0.75');
      await page.getByTestId('batch').fill('3');
      await page.getByTestId('steps').fill('7');
      await page.getByTestId('seed').fill('5');
      await page.getByTestId('lr').fill('3e-3');
      await page.getByTestId('dataset').selectOption('photos');
      const ablations = {
        'ablation-encoder': 'dense-zero',
        'ablation-decoder': 'coarsest',
        'ablation-mask-token': 'zeros',
        'ablation-target': 'raw',
        'ablation-loss-on': 'all',
      };
      for (const [testId, value] of Object.entries(ablations))
        await page.getByTestId(testId).selectOption(value);
      await page.getByTestId('copy-link').click();
      const link = await page.getByTestId('share-link').inputValue();
      assert(link.includes('#v='), `the link has no engine version: ${link}`);
      const fresh = await browser.newPage();
      await fresh.goto(link);
      await fresh.getByTestId('mask-ratio').waitFor();
      const expected = {
        'mask-ratio': '0.75',
        batch: '3',
        steps: '7',
        seed: '5',
        lr: '3e-3',
        dataset: 'photos',
        preset: 'tiny',
        ...ablations,
      };
      for (const [testId, value] of Object.entries(expected)) {
        const actual = await fresh.getByTestId(testId).inputValue();
        assert(actual === value, `${testId} is ${actual} in the fresh page, ${value} in the link`);
      }
      assert(
        (await fresh.locator('[data-testid="notice"][data-kind="link"]').count()) === 0,
        'a clean link gave a notice',
      );
      await fresh.close();

      const bad = await browser.newPage();
      await bad.goto(`${url}#v=0.0.1&mask=abc&encoder=magic&batch=-4`);
      const notices = bad.locator('[data-testid="notice"][data-kind="link"]');
      await notices.first().waitFor({ timeout: 10_000 });
      const text = (await notices.allInnerTexts()).join(' ');
      assert(
        /mask=abc/.test(text) && /encoder=magic/.test(text),
        `the notice does not name the bad values: ${text}`,
      );
      assert(/engine version 0\.0\.1/.test(text), `no notice about the engine version: ${text}`);
      assert((await bad.getByTestId('mask-ratio').inputValue()) === '0.6', 'the mask ratio left its default');
      assert(
        (await bad.getByTestId('ablation-encoder').inputValue()) === 'sparse',
        'the encoder left its default',
      );
      await bad.close();
      assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
    },
  );

  await check(
    'lab: two queued runs at mask ratios 0.4 and 0.8 are kept, drawn and compared on nested masks; the hand-edited mask down to one cell; CSV, PNG and report downloads; every ablation reaches the worker and changes what trains',
    async (page, errors) => {
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.goto(url);
      await waitGpuReady(page);
      await page.getByTestId('preset').selectOption('tiny');
      await page.getByTestId('dataset').selectOption('fashion-mnist');
      await page.getByTestId('batch').fill('2');
      await page.getByTestId('steps').fill('2');
      await page.getByTestId('mask-ratio').fill('0.4');
      await page.getByTestId('queue-add').click();
      await page.getByTestId('mask-ratio').fill('0.8');
      await page.getByTestId('queue-add').click();
      await page.getByTestId('queue-run').click();
      const started = Date.now();
      await page.waitForFunction(
        () => {
          const rows = [...document.querySelectorAll('[data-testid="run-row"]')];
          // Each run's last watch-set evaluation is the one after its last step.
          const watch = [...document.querySelectorAll('[data-testid="watch-run"]')].filter(
            (w) => w.getAttribute('data-step') === '2',
          ).length;
          return (
            rows.length === 2 && rows.every((r) => r.getAttribute('data-state') === 'finished') && watch === 2
          );
        },
        null,
        { timeout: TRAIN_TIMEOUT },
      );
      console.log(
        `    two runs of 2 steps (with watch-set evaluations) took ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      const rows = page.getByTestId('run-row');
      const configs = await rows.evaluateAll((els) =>
        els.map((e) => JSON.parse(e.getAttribute('data-config'))),
      );
      const ratios = configs.map((c) => c.model.maskRatio);
      assert(ratios[0] === 0.4 && ratios[1] === 0.8, `the worker ran mask ratios ${ratios}`);
      const series = await page.getByTestId('loss-chart').getAttribute('data-series');
      assert(series === '2', `loss-chart draws ${series} runs, not 2`);
      const diff = await rows.nth(1).getByTestId('run-diff').innerText();
      assert(/mask ratio 0\.4 → 0\.8/.test(diff), `the table's difference reads: ${diff}`);
      const heldOut = Number(await page.getByTestId('heldout-loss').innerText());
      assert(Number.isFinite(heldOut) && heldOut > 0, `heldout-loss is not a number: ${heldOut}`);
      // Nested masks: the run at 0.8 sees a subset of the cells the run at 0.4 sees, on the same images.
      const watch = await page.getByTestId('watch-run').evaluateAll((els) =>
        els.map((e) => ({
          cells: e.getAttribute('data-visible-cells'),
          mask: e.getAttribute('data-mask'),
        })),
      );
      assert(watch[0].cells === '10' && watch[1].cells === '3', `visible cells ${watch.map((w) => w.cells)}`);
      assert(
        watch[0].mask.length === watch[1].mask.length && watch[0].mask.length === 4 * 16,
        'masks of different sizes',
      );
      for (let i = 0; i < watch[0].mask.length; i++)
        assert(
          watch[1].mask[i] === '0' || watch[0].mask[i] === '1',
          `cell ${i} is visible at 0.8 but hidden at 0.4`,
        );
      mkdirSync(new URL('../../docs/img/', import.meta.url), { recursive: true });
      // The README's picture: the compared curves above the runs side by side on the watch set.
      // Page coordinates (a full-page clip), not the viewport's.
      const box = (testId) =>
        page.getByTestId(testId).evaluate((e) => {
          const r = e.getBoundingClientRect();
          return { x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width, height: r.height };
        });
      const top = await box('loss-chart');
      const bottom = await box('watch-compare');
      await page.screenshot({
        path: new URL('../../docs/img/compare.png', import.meta.url).pathname,
        fullPage: true,
        clip: {
          x: bottom.x - 12,
          y: top.y - 40,
          width: Math.max(top.width * 2 + 40, bottom.width) + 24,
          height: bottom.y + bottom.height - top.y + 52,
        },
      });

      // The hand-edited mask: starts from the nested mask at the form's ratio (0.8: 3 cells) on the current run.
      const custom = page.getByTestId('recon-custom');
      const visibleIs = (n) =>
        page.waitForFunction(
          (n) =>
            document.querySelector('[data-testid="recon-custom"]')?.getAttribute('data-visible-cells') ===
            String(n),
          n,
          { timeout: 60_000 },
        );
      await visibleIs(3);
      const cellStates = () =>
        page.locator('[data-testid^="mask-cell-"]').evaluateAll((els) =>
          els.map((e) => ({
            id: e.getAttribute('data-testid'),
            hidden: e.getAttribute('aria-pressed') === 'true',
          })),
        );
      const firstDrawing = await pixels(page, 'recon-custom');
      const hidden = (await cellStates()).find((c) => c.hidden);
      await page.getByTestId(hidden.id).click();
      await visibleIs(4);
      assert(
        (await pixels(page, 'recon-custom')) !== firstDrawing,
        'showing a cell did not change recon-custom',
      );
      // Down to one visible cell (keyboard: focus and Space).
      for (const cell of (await cellStates()).filter((c) => !c.hidden).slice(1)) {
        await page.getByTestId(cell.id).focus();
        await page.keyboard.press('Space');
      }
      await visibleIs(1);
      const last = (await cellStates()).find((c) => !c.hidden);
      await page.getByTestId(last.id).click();
      assert(
        (await page.getByTestId(last.id).getAttribute('aria-pressed')) === 'false',
        'the last visible cell could be hidden',
      );
      assert((await custom.getAttribute('data-visible-cells')) === '1', 'recon-custom left one visible cell');

      // Downloads.
      await rows.nth(0).getByTestId('run-select').uncheck();
      const csv = await download(page, 'download-metrics');
      const lines = csv.bytes.toString('utf8').trim().split('\n');
      assert(
        lines[0] === 'step,loss,heldout_loss,lr,grad_norm,images_per_s,step_ms',
        `CSV header: ${lines[0]}`,
      );
      assert(lines.length >= 3, `CSV rows: ${lines.length - 1}`);
      for (const line of lines.slice(1)) {
        const cells = line.split(',');
        assert(
          cells.length === 7 && cells.every((c) => c === '' || Number.isFinite(Number(c))),
          `CSV row: ${line}`,
        );
      }
      assert(
        lines.slice(1).some((l) => l.split(',')[2] !== ''),
        'the CSV has no held-out loss',
      );
      await rows.nth(0).getByTestId('run-select').check();
      const recon = await download(page, 'download-recon');
      const size = pngSize(recon.bytes);
      assert(size.width > 32 && size.height > 32, `reconstruction PNG of ${size.width}×${size.height}`);
      const report = await download(page, 'download-report');
      const files = Object.keys(unzipSync(new Uint8Array(report.bytes)));
      for (const name of ['link.txt', 'runs.json', 'loss.svg', 'loss.png', 'watch-set.png'])
        assert(files.includes(name), `the report lacks ${name}: ${files.join(', ')}`);
      const lossPng = pngSize(Buffer.from(unzipSync(new Uint8Array(report.bytes))['loss.png']));
      assert(
        lossPng.width === 640 && lossPng.height === 360,
        `loss.png of ${lossPng.width}×${lossPng.height}`,
      );

      // Every ablation switch at once, at ratio 0.4: it reaches the worker and trains something else.
      const ablations = {
        'ablation-encoder': ['dense-zero', 'encoder'],
        'ablation-decoder': ['coarsest', 'decoderInputs'],
        'ablation-mask-token': ['zeros', 'maskToken'],
        'ablation-target': ['raw', 'lossTarget'],
        'ablation-loss-on': ['all', 'lossOn'],
      };
      for (const [testId, [value]] of Object.entries(ablations))
        await page.getByTestId(testId).selectOption(value);
      await page.getByTestId('mask-ratio').fill('0.4');
      await page.getByTestId('start').click();
      await page.waitForFunction(
        () => {
          const rows = [...document.querySelectorAll('[data-testid="run-row"]')];
          return rows.length === 3 && rows[2].getAttribute('data-state') === 'finished';
        },
        null,
        { timeout: TRAIN_TIMEOUT },
      );
      const config = JSON.parse(await rows.nth(2).getAttribute('data-config'));
      for (const [testId, [value, field]] of Object.entries(ablations))
        assert(config.model[field] === value, `${testId}: the worker ran ${field} = ${config.model[field]}`);
      const [weights] = await Promise.all([
        page.waitForEvent('download'),
        page.getByTestId('export-weights').click(),
      ]);
      const bytes = readFileSync(await weights.path());
      const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
      const names = Object.keys(header);
      assert(
        names.some((n) => n.startsWith('dense_decoder.')),
        'the export has no decoder',
      );
      assert(
        !names.some((n) => n.startsWith('mask_tokens')),
        'the zeros mask token still exports mask_tokens',
      );
      // Same seed, data and ratio as the first run: only the switches differ, so the loss does too.
      const lastLoss = (i) => rows.nth(i).locator('td').nth(4).innerText();
      const [plain, ablated] = [await lastLoss(0), await lastLoss(2)];
      assert(plain !== ablated, `the ablated run's loss equals the plain run's (${plain})`);
      assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
    },
  );
}
