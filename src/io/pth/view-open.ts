/**
 * Opening a `.pth` for viewing (the page's "Open checkpoint…" and `npm run view-checkpoint`): the weights only, under
 * the configuration the file's tensor names and shapes say (a preset, an official architecture, or one
 * inferred: ./official-read.ts configOfShapes). An encoder-only file (`*_1kpretrained_timm_style.pth`) gets
 * a freshly initialised decoder, so its reconstructions show what an untrained decoder makes of its features.
 */
import type { SparkConfig } from '../../models/config';
import { officialInitialState } from '../../models/init';
import { type OfficialKind, readOfficial } from './official-read';
import type { PthArchive } from './read';

export interface OpenedCheckpoint {
  kind: OfficialKind;
  config: SparkConfig;
  /** Every tensor of the model (official names and layouts). */
  state: Map<string, Float32Array>;
  arch?: string;
  epoch?: number;
  warnings: string[];
}

export interface ViewOpenOptions {
  /** The input size when the file does not say it (encoder-only files); default 224. */
  inputSize?: number;
  /** Seed of the fresh decoder of an encoder-only file. */
  seed?: number;
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
}

export async function openForViewing(
  archive: PthArchive,
  options: ViewOpenOptions = {},
): Promise<OpenedCheckpoint> {
  const imported = await readOfficial(archive, {
    withOptimizer: false,
    inputSize: options.inputSize,
    onProgress: options.onProgress,
  });
  const { config, kind, warnings } = imported;
  let state = imported.state;
  if (kind === 'encoder') {
    state = officialInitialState(config, options.seed ?? 0);
    for (const [name, value] of imported.state) state.set(name, value);
    warnings.push(
      `${archive.name} holds the encoder alone; the decoder is freshly initialised, so the reconstructions show what an untrained decoder makes of its features.`,
    );
  }
  return {
    kind,
    config,
    state,
    warnings,
    ...(imported.arch ? { arch: imported.arch } : {}),
    ...(imported.epoch !== undefined ? { epoch: imported.epoch } : {}),
  };
}

/** One line naming what was opened, e.g. "ResNet (bottleneck, 3-4-6-3), 224 px, decoder width 768". */
export function describeOpened(opened: OpenedCheckpoint): string {
  const c = opened.config;
  const b = c.backbone;
  const backbone =
    b.family === 'resnet'
      ? `ResNet (${b.block} blocks, depths ${b.depths.join('-')}, widths ${b.widths.join('-')})`
      : `ConvNeXt (dims ${b.dims.join('-')}, depths ${b.depths.join('-')})`;
  const from =
    opened.kind === 'encoder'
      ? 'encoder only'
      : opened.kind === 'flat'
        ? 'flat state dict'
        : 'official checkpoint';
  return `${opened.arch ? `${opened.arch}: ` : ''}${backbone}, ${c.inputSize} px, decoder width ${c.decoderWidth}, densify norm ${c.densifyNorm} (${from}${opened.epoch !== undefined ? `, epoch ${opened.epoch}` : ''})`;
}
