// The "Does it help?" panel's end-to-end check (issue #14), run by run-e2e.mjs: two kept runs of one step
// each (mask ratios 0.4 and 0.8), the current one probed with "Probe this run" (bars for random init and the
// run), the other from its stored checkpoint with "Probe kept runs" (the random arm reused), and both
// accuracies in the runs table beside their losses. The quick probe set (100 / 50 images) keeps it short on
// SwiftShader. Screenshots of the panel at desktop width and at 360 px to docs/img/.
import { mkdirSync } from 'node:fs';
import { waitGpuReady } from './page.mjs';

const TIMEOUT = 240_000;
const IMG = new URL('../../docs/img/', import.meta.url);

async function trainOneStep(page, maskRatio, rows) {
  await page.getByTestId('mask-ratio').fill(String(maskRatio));
  await page.getByTestId('start').click();
  await page.waitForFunction(
    (rows) => {
      const all = [...document.querySelectorAll('[data-testid="run-row"]')];
      return all.length === rows && all[rows - 1].getAttribute('data-state') === 'finished';
    },
    rows,
    { timeout: TIMEOUT },
  );
}

/** Every probe-result bar as { arm, protocol, accuracy, samples }. */
const bars = (page) =>
  page.getByTestId('probe-result').evaluateAll((els) =>
    els.map((e) => ({
      arm: e.getAttribute('data-arm'),
      protocol: e.getAttribute('data-protocol'),
      accuracy: Number(e.getAttribute('data-accuracy')),
      samples: Number(e.getAttribute('data-samples')),
      text: e.textContent,
    })),
  );

export async function probeChecks({ check, assert, url }) {
  await check(
    'probe: "Probe this run" shows k-NN bars for random init and the run with test images and chance; "Probe kept runs" probes the other kept run from its checkpoint; both accuracies sit in the runs table',
    async (page, errors) => {
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.goto(url);
      await waitGpuReady(page);
      await page.getByTestId('preset').selectOption('tiny');
      await page.getByTestId('dataset').selectOption('fashion-mnist');
      await page.getByTestId('batch').fill('2');
      await page.getByTestId('steps').fill('1');
      const started = Date.now();
      await trainOneStep(page, 0.4, 1);
      await trainOneStep(page, 0.8, 2);
      const ids = await page
        .getByTestId('run-row')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-run-id')));
      const [first, second] = ids;
      assert(first && second && first !== second, `kept run ids: ${ids}`);
      console.log(`    two runs of one step took ${((Date.now() - started) / 1000).toFixed(1)} s`);

      await page.getByTestId('probe-set').selectOption('quick');
      const probeStarted = Date.now();
      await page.getByTestId('probe-run').click();
      await page.waitForFunction(
        () => document.querySelectorAll('[data-testid="probe-result"]').length >= 2,
        null,
        { timeout: TIMEOUT },
      );
      const probeSeconds = (Date.now() - probeStarted) / 1000;
      const shown = await bars(page);
      assert(shown.length === 2, `expected 2 bars (k-NN only), got ${shown.length}`);
      const arms = shown.map((b) => b.arm).sort();
      assert(
        arms.join() === ['random', second].sort().join(),
        `bars' data-arm: ${arms}, expected random and ${second} (the current run)`,
      );
      for (const bar of shown) {
        assert(bar.protocol === 'knn', `a bar's data-protocol is ${bar.protocol}`);
        assert(
          Number.isFinite(bar.accuracy) && bar.accuracy >= 0 && bar.accuracy <= 1,
          `${bar.arm}: data-accuracy ${bar.accuracy} is not in [0, 1]`,
        );
        assert(bar.samples === 50, `${bar.arm}: ${bar.samples} test images, the quick set has 50`);
        assert(/% of 50 test images/.test(bar.text), `${bar.arm}: the bar reads "${bar.text}"`);
      }
      const chanceNote = page.getByTestId('probe-chance');
      const chance = Number(await chanceNote.getAttribute('data-chance'));
      assert(chance > 0 && chance < 1, `chance ${chance}`);
      const note = await chanceNote.innerText();
      assert(
        note.includes(`Chance ${(chance * 100).toFixed(1)} %`) &&
          /50 test images, 100 to learn from/.test(note),
        `the chance note reads: ${note}`,
      );
      console.log(
        `    quick probe of run ${second} took ${probeSeconds.toFixed(1)} s: ${shown.map((b) => `${b.arm} ${(b.accuracy * 100).toFixed(1)} %`).join(', ')}, chance ${(chance * 100).toFixed(1)} %`,
      );

      // The runs table: the probed run's accuracy beside its loss; the other one not probed yet.
      const cell = (id) => page.locator(`[data-testid="run-probe"][data-arm="${id}"]`);
      const secondBar = shown.find((b) => b.arm === second);
      assert(
        Number((await cell(second).getAttribute('data-accuracy')) ?? Number.NaN) === secondBar.accuracy,
        'the runs table does not show the probed run’s k-NN accuracy',
      );
      assert((await cell(first).getAttribute('data-accuracy')) === null, 'the unprobed run has an accuracy');

      // The other kept run, from its stored checkpoint; the random arm is reused, not recomputed.
      const keptButton = page.getByTestId('probe-kept');
      assert(/\(1\)/.test(await keptButton.innerText()), `probe-kept reads: ${await keptButton.innerText()}`);
      const keptStarted = Date.now();
      await keptButton.click();
      await page.waitForFunction(
        (id) =>
          document
            .querySelector(`[data-testid="run-probe"][data-arm="${id}"]`)
            ?.hasAttribute('data-accuracy'),
        first,
        { timeout: TIMEOUT },
      );
      const keptSeconds = (Date.now() - keptStarted) / 1000;
      const after = await bars(page);
      const randomBefore = shown.find((b) => b.arm === 'random');
      const randomAfter = after.find((b) => b.arm === 'random');
      assert(
        after.some((b) => b.arm === first) && randomAfter?.accuracy === randomBefore.accuracy,
        `after probing the kept run the bars are ${JSON.stringify(after.map((b) => [b.arm, b.accuracy]))}`,
      );
      assert(
        (await page.getByTestId('probe-bars').getAttribute('data-random-reused')) === 'true',
        'the random arm was computed again for the kept run',
      );
      const firstAccuracy = Number(await cell(first).getAttribute('data-accuracy'));
      assert(firstAccuracy >= 0 && firstAccuracy <= 1, `kept run ${first}: accuracy ${firstAccuracy}`);
      const rows = await page
        .getByTestId('probe-row')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-arm')));
      assert(
        rows.length === 2 && rows.includes(first) && rows.includes(second),
        `the panel's table has rows ${rows}`,
      );
      console.log(
        `    kept run ${first} probed from its checkpoint in ${keptSeconds.toFixed(1)} s: ${(firstAccuracy * 100).toFixed(1)} %`,
      );

      // The panel at rest: the probe finished, its progress line gone.
      await page.waitForFunction(
        () =>
          !document.querySelector('[data-testid="probe-status"]') &&
          !document.querySelector('[data-testid="probe-run"]')?.disabled,
        null,
        { timeout: 10_000 },
      );
      mkdirSync(IMG, { recursive: true });
      const panel = page.getByTestId('probe-panel');
      const style = '.run-bar { position: static; }';
      await panel.screenshot({ path: new URL('panel-probe.png', IMG).pathname, style });
      await page.setViewportSize({ width: 360, height: 740 });
      const [scrollWidth, width] = await page.evaluate(() => [
        document.documentElement.scrollWidth,
        innerWidth,
      ]);
      assert(scrollWidth <= width, `the page is ${scrollWidth} px wide in a ${width}-px window`);
      await panel.screenshot({ path: new URL('panel-probe-360.png', IMG).pathname, style });
      assert(errors.length === 0, `console errors: ${errors.join(' | ')}`);
    },
  );
}
