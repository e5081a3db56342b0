/**
 * Writes tests/fixtures/pth/view-convnext-custom.pth (see src/io/pth/view-fixture.ts):
 *   node --import tsx --import ./scripts/raw-loader.mjs scripts/make-view-fixture.ts
 */
import { writeFileSync } from 'node:fs';
import { flatStatePth, VIEW_FIXTURE_CONFIG, viewFixtureState } from '../src/io/pth/view-fixture';

const path = 'tests/fixtures/pth/view-convnext-custom.pth';
writeFileSync(path, flatStatePth(VIEW_FIXTURE_CONFIG, viewFixtureState()));
process.stdout.write(`wrote ${path}\n`);
