/**
 * `npm run export -- --checkpoint SRC --format official-pth|timm-pth|safetensors --out FILE`
 *
 * Converts between SparkLab checkpoints and PyTorch `.pth` files of the official SparK layout (see
 * export-run.ts for the sources and formats, docs/SCALE-OUT.md for continuing a run on a GPU cluster).
 */
import { isKnownExportError, runExport } from './export-run';

runExport(process.argv.slice(2)).then(
  (lines) => {
    for (const line of lines) process.stdout.write(`${line}\n`);
    process.exit(0);
  },
  (error: Error) => {
    const known = isKnownExportError(error);
    process.stderr.write(`${known ? error.message : (error.stack ?? error.message)}\n`);
    process.exit(known ? 2 : 1);
  },
);
