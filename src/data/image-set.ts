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
  sniffImage,
} from './image';
import { resizeRgb } from './resample';

export interface ImageFile {
  name: string;
  bytes: Uint8Array;
}

/**
 * A file whose bytes are read only when its turn comes, so a collection holds one undecoded file at a time
 * and can refuse a file from its size, or stop at the memory budget, without reading it. A folder reader
 * that already knows why an entry cannot be used (a dangling link, a subfolder) gives `skip` instead.
 */
export interface LazyImageFile {
  name: string;
  /** Bytes on disk, when known before reading. */
  size?: number;
  read(): Promise<Uint8Array>;
  /** The first bytes only (to refuse a large non-image without reading it whole), when cheaper than `read`. */
  readHead?(): Promise<Uint8Array>;
  /** Completes "NAME was skipped because …"; the file is then never read. */
  skip?: string;
}

/**
 * What `addImages` accepts: bytes already read, a File (from a picker or a drop) or a lazy file. Files can
 * be posted to the worker as they are — a handle, not a copy — and read there, one at a time, so the main
 * thread never touches the bytes and one unreadable file is one skip reason, not a failed drop.
 */
export type ImageSource = ImageFile | File | LazyImageFile;

function isFile(source: ImageSource): source is File {
  return typeof Blob !== 'undefined' && source instanceof Blob;
}

/** Any source as a lazy file; nothing is read here. */
export function lazyImageFile(source: ImageSource): LazyImageFile {
  if (isFile(source)) {
    return {
      name: source.name,
      size: source.size,
      read: async () => new Uint8Array(await source.arrayBuffer()),
    };
  }
  if ('bytes' in source && source.bytes instanceof Uint8Array) {
    const { bytes } = source;
    return { name: source.name, size: bytes.byteLength, read: async () => bytes };
  }
  return source as LazyImageFile;
}

/** Kept for callers that read the sources first: now wraps them lazily, reading nothing. */
export async function readImageSources(sources: readonly ImageSource[]): Promise<LazyImageFile[]> {
  return sources.map(lazyImageFile);
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
  /**
   * Files larger than this are refused from their size, before they are read: a 40 Mpx photo is at most
   * ~160 MiB even stored uncompressed, so anything bigger is a video, an archive or a disk image.
   */
  maxFileBytes: number;
}

export const DEFAULT_IMAGE_SET_OPTIONS: ImageSetOptions = {
  memoryBudgetBytes: 256 * 1024 * 1024,
  maxStoredSide: 1024,
  limits: DEFAULT_PROBE_LIMITS,
  maxFileBytes: 256 * 1024 * 1024,
};

/** Files above this size are sniffed from their first bytes before being read whole. */
const SNIFF_THRESHOLD_BYTES = 1024 * 1024;

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 0)} MiB`;
}

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
  private readonly names = new Set<string>();
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

  /**
   * Loads the files in order, one at a time (each is read, probed, decoded and its bytes dropped before the
   * next is read); returns what this call added and skipped. Never throws for a bad file.
   */
  async add(files: readonly ImageSource[]): Promise<{ added: NamedImage[]; skipped: SkippedFile[] }> {
    const added: NamedImage[] = [];
    const skipped: SkippedFile[] = [];
    for (const source of files) {
      const outcome = await this.loadOne(lazyImageFile(source));
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

  private cacheFull(name: string): SkippedFile {
    return {
      name,
      reason: `the image cache is full (its ${mib(this.options.memoryBudgetBytes)} budget is used by the images before it).`,
    };
  }

  private async loadOne(file: LazyImageFile): Promise<NamedImage | SkippedFile> {
    const { name } = file;
    if (file.skip) return { name, reason: file.skip };
    if (file.size !== undefined && file.size > this.options.maxFileBytes) {
      return {
        name,
        reason: `it is ${mib(file.size)}, more than the ${mib(this.options.maxFileBytes)} an image file may be (is it a video or an archive?).`,
      };
    }
    // Once the budget is spent, the files after it are not even read.
    if (this.used >= this.options.memoryBudgetBytes) return this.cacheFull(name);
    let bytes: Uint8Array;
    try {
      if (file.readHead && (file.size ?? 0) > SNIFF_THRESHOLD_BYTES) {
        const sniff = sniffImage(await file.readHead());
        if (!sniff.ok) return { name, reason: sniff.reason };
      }
      bytes = await file.read();
    } catch (error) {
      return { name, reason: `it could not be read (${(error as Error).message ?? error}).` };
    }
    if (bytes.byteLength > this.options.maxFileBytes) {
      return {
        name,
        reason: `it is ${mib(bytes.byteLength)}, more than the ${mib(this.options.maxFileBytes)} an image file may be.`,
      };
    }
    const probe = probeImage(bytes, this.options.limits);
    if (!probe.ok) return { name, reason: probe.reason };
    const { width, height } = displaySize(probe.header);
    const target = storedSize(width, height, this.options.maxStoredSide);
    const cost = target.width * target.height * 3;
    if (this.used + cost > this.options.memoryBudgetBytes) return this.cacheFull(name);
    let image: RgbImage;
    try {
      image = await this.decode(bytes, probe.header);
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
    return { name: this.uniqueName(name), width: image.width, height: image.height, data: image.data };
  }

  /**
   * Names identify images (the held-out split is chosen by name), so a second "IMG_0001.jpg" dropped from
   * another folder is kept as "IMG_0001.jpg (2)" instead of sharing the first one's split.
   */
  private uniqueName(name: string): string {
    let candidate = name;
    for (let k = 2; this.names.has(candidate); k++) candidate = `${name} (${k})`;
    this.names.add(candidate);
    return candidate;
  }
}
