// Node module hook so that the CLI (run with tsx) understands Vite's `?raw` imports of WGSL files.
import { register } from 'node:module';

register('./raw-hooks.mjs', import.meta.url);
