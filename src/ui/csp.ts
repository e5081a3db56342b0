/**
 * The page's Content-Security-Policy (injected into the built index.html by vite.config.ts, checked in e2e).
 * - scripts, workers and fetches: this origin only, no inline or eval'd script; WebAssembly is not used, so
 *   'wasm-unsafe-eval' is not granted;
 * - images: this origin, plus blob: and data: URLs the page makes itself (downloads, canvases, previews);
 * - styles: this origin, plus style attributes React and the chart library set;
 * - no plugins (<object>), no <base> rewriting, no form posts anywhere.
 * frame-ancestors cannot be set from a meta tag; hosts that add headers should send it too.
 */
export const CONTENT_SECURITY_POLICY = [
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
