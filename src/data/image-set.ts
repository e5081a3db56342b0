/**
 * The user's own images: probed, decoded (by a host decoder passed in), shrunk to a stored size and cached
 * within a memory budget. Every file either becomes an image or a reason sentence; training goes on with
 * whatever loaded, and a set with nothing usable is an error that lists why each file was refused.
 */
import {
  DEFAULT_PROBE_LIMITS,
  displaySize,
  type ImageHeader,
  type ProbeLimits,
  probeImage,
  type RgbImage,
} from './image';
import { resizeRgb } from './resample';

export interface ImageFile {
  name: string;
  bytes: Uint8Array;
}

/**
 * What `addImages` accepts: bytes already read, or a File (from a picker or a drop). Files can be posted to
 * the worker as they are — a handle, not a copy — and read there, so the main thread never touches the bytes.
 */
export type ImageSource = ImageFile | File;

export async function readImageSources(sources: readonly ImageSource[]): Promise<ImageFile[]> {
  const out: ImageFile[] = [];
  for (const source of sources) {
    // Blob has a bytes() method too, so tell the two apart by what `bytes` is.
    if (source.bytes instanceof Uint8Array) out.push(source as ImageFile);
    else {
      const file = source as File;
      out.push({ name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) });
    }
  }
  return out;
}

export interface NamedImage extends RgbImage {
  name: string;
}

export interface SkippedFile {
  name: string;
  /** Completes "NAME was skipped because …". */
  reason: string;
}

export type DecodeImage = (bytes: Uint8Array, header: ImageHeader) => Promise<RgbImage>;

export interface ImageSetOptions {
  /**
   * Bytes of decoded RGB kept in memory (3 bytes per pixel); default 256 MiB. A `PhotoDataset` built on the
   * images adds their halvings (`MipImage`, about ⅓ more), and decoding one file briefly needs 4 bytes per
   * pixel of its full size.
   */
  memoryBudgetBytes: number;
  /**
   * Images whose longer side exceeds this are shrunk to it (antialiased bilinear) when cached: training
   * crops are 32–256 px, so 1024 px keeps crops at native detail while 20 phone photos fit in ~60 MiB.
   */
  maxStoredSide: number;
  limits: ProbeLimits;
}

export const DEFAULT_IMAGE_SET_OPTIONS: ImageSetOptions = {
  memoryBudgetBytes: 256 * 1024 * 1024,
  maxStoredSide: 1024,
  limits: DEFAULT_PROBE_LIMITS,
};

export function skipMessage(file: SkippedFile): string {
  return `${file.name} was skipped because ${file.reason}`;
}

export class NoUsableImagesError extends Error {
  constructor(readonly skipped: SkippedFile[]) {
    const details = skipped.map((s) => `\n  - ${skipMessage(s)}`).join('');
    super(
      skipped.length === 0
        ? 'No images were given: choose at least one PNG or JPEG file.'
        : `None of the ${skipped.length} files could be used for training:${details}`,
    );
    this.name = 'NoUsableImagesError';
  }
}

/** Size after shrinking so the longer side is at most `maxSide` (aspect ratio kept, at least 1 px). */
export function storedSize(
  width: number,
  height: number,
  maxSide: number,
): { width: number; height: number } {
  const longer = Math.max(width, height);
  if (longer <= maxSide) return { width, height };
  const f = maxSide / longer;
  return { width: Math.max(1, Math.round(width * f)), height: Math.max(1, Math.round(height * f)) };
}

/** A growing collection of decoded images with a byte budget; `add` can be called again (drag-and-drop). */
export class ImageCollection {
  readonly images: NamedImage[] = [];
  readonly skipped: SkippedFile[] = [];
  private used = 0;
  private readonly options: ImageSetOptions;

  constructor(
    private readonly decode: DecodeImage,
    options: Partial<ImageSetOptions> = {},
  ) {
    this.options = { ...DEFAULT_IMAGE_SET_OPTIONS, ...options };
  }

  get bytes(): number {
    return this.used;
  }

  get budgetBytes(): number {
    return this.options.memoryBudgetBytes;
  }

  /** Loads the files in order; returns what this call added and skipped. Never throws for a bad file. */
  async add(files: ImageFile[]): Promise<{ added: NamedImage[]; skipped: SkippedFile[] }> {
    const added: NamedImage[] = [];
    const skipped: SkippedFile[] = [];
    for (const file of files) {
      const outcome = await this.loadOne(file);
      if ('reason' in outcome) skipped.push(outcome);
      else added.push(outcome);
    }
    this.images.push(...added);
    this.skipped.push(...skipped);
    return { added, skipped };
  }

  /** Throws `NoUsableImagesError` (listing every reason) when nothing loaded. */
  requireUsable(): NamedImage[] {
    if (this.images.length === 0) throw new NoUsableImagesError(this.skipped);
    return this.images;
  }

  private async loadOne(file: ImageFile): Promise<NamedImage | SkippedFile> {
    const { name } = file;
    const probe = probeImage(file.bytes, this.options.limits);
    if (!probe.ok) return { name, reason: probe.reason };
    const { width, height } = displaySize(probe.header);
    const target = storedSize(width, height, this.options.maxStoredSide);
    const cost = target.width * target.height * 3;
    if (this.used + cost > this.options.memoryBudgetBytes) {
      const mib = (this.options.memoryBudgetBytes / 2 ** 20).toFixed(0);
      return {
        name,
        reason: `the image cache is full (its ${mib} MiB budget is used by the images before it).`,
      };
    }
    let image: RgbImage;
    try {
      image = await this.decode(file.bytes, probe.header);
    } catch (error) {
      return {
        name,
        reason: `it could not be decoded (${(error as Error).message}); the file may be damaged.`,
      };
    }
    if (image.width !== width || image.height !== height) {
      return {
        name,
        reason: `it decoded to ${image.width}×${image.height}, not the ${width}×${height} its header says.`,
      };
    }
    if (target.width !== width || target.height !== height) {
      image = resizeRgb(image, target.width, target.height, 'bilinear');
    }
    this.used += image.data.byteLength;
    return { name, width: image.width, height: image.height, data: image.data };
  }
}
