// Shared by the e2e check files: waits until the page's GPU status says the device is ready to train.
export async function waitGpuReady(page) {
  await page.waitForFunction(
    () => document.querySelector('[data-testid="gpu-status"]')?.getAttribute('data-state') === 'ready',
    null,
    { timeout: 30_000 },
  );
}
