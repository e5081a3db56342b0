import react from '@vitejs/plugin-react';
import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

/**
 * The page's Content-Security-Policy (injected into the built index.html below, checked in e2e). It lives
 * here, not in src/: a config that imports app sources changes how the dev server transforms them.
 * - scripts, workers and fetches: this origin only, no inline or eval'd script; WebAssembly is not used, so
 *   'wasm-unsafe-eval' is not granted;
 * - images: this origin, plus blob: and data: URLs the page makes itself (downloads, canvases, previews);
 * - styles: this origin, plus style attributes React and the chart library set;
 * - no plugins (<object>), no <base> rewriting, no form posts anywhere.
 * frame-ancestors cannot be set from a meta tag; hosts that add headers should send it too.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self'",
  "connect-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/**
 * The built page carries its Content-Security-Policy in a meta tag (a static host may set no headers): only
 * scripts, workers, data and images from its own origin, no inline script, no plugins. Not in dev, where
 * Vite's hot reload injects an inline script.
 */
function contentSecurityPolicy(): Plugin {
  return {
    name: 'sparklab-csp',
    apply: 'build',
    transformIndexHtml: () => [
      {
        tag: 'meta',
        attrs: { 'http-equiv': 'Content-Security-Policy', content: CONTENT_SECURITY_POLICY },
        injectTo: 'head-prepend',
      },
    ],
  };
}

// One config for the app (Vite) and the tests (Vitest). WGSL is imported with `?raw` in both.
export default defineConfig({
  plugins: [react(), contentSecurityPolicy()],
  worker: { format: 'es' },
  build: { target: 'es2022', sourcemap: true },
  test: {
    include: ['src/**/*.test.ts', 'tests/**/*.test.ts'],
    exclude: ['tests/e2e/**', 'node_modules/**'],
    globalSetup: ['tests/global-setup.ts'],
    setupFiles: ['tests/setup-fast-check.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
