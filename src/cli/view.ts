/**
 * `npm run view-checkpoint -- --checkpoint FILE.pth [--images DIR] [--out FILE.png]`: reconstructions of a checkpoint
 * of any SparK architecture SparkLab can build, without training (see view-run.ts).
 */
import { createNodeGpu } from '../gpu/node';
import { isKnownViewError, runView } from './view-run';

runView(process.argv.slice(2), () => createNodeGpu('view')).then(
  ({ lines }) => {
    for (const line of lines) process.stdout.write(`${line}\n`);
    process.exit(0);
  },
  (error: Error) => {
    const known = isKnownViewError(error);
    process.stderr.write(`${known ? error.message : (error.stack ?? error.message)}\n`);
    process.exit(known ? 2 : 1);
  },
);
