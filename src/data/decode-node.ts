/**
 * Node image decoding (sharp, i.e. libvips) and folder loading. Node-only: the browser bundle never imports
 * this module (it uses `decode-browser.ts`).
 *
 * Decoding is bounded: sharp refuses any input with more pixels than the probe read from the header
 * (`limitInputPixels`), so a file that lies about its size, or a PNG whose data inflates past it (an
 * interlaced "bomb"), fails with a reason instead of allocating hundreds of MiB. sharp also decodes what
 * browsers decode and the old pure-JS decoders did not: CMYK JPEGs, WebP and AVIF.
 */
import { lstat, open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { type PhotoDataset, type PhotoDatasetOptions, userPhotoDataset } from './datasets';
import { type ImageHeader, type RgbImage, rgbaToRgb } from './image';
import {
  DEFAULT_IMAGE_SET_OPTIONS,
  ImageCollection,
  type ImageSetOptions,
  type LazyImageFile,
  type SkippedFile,
} from './image-set';

/**
 * Decodes a file the probe accepted into 8-bit RGB, displayed upright (EXIF orientation applied, as
 * browsers do) and without colour-profile conversion (pixel values as stored, like the browser path);
 * CMYK is converted to RGB. 16-bit samples are scaled v·255/65535 and rounded; alpha is composited by
 * `rgbaToRgb`, the same code as in the browser.
 */
export async function decodeImageNode(bytes: Uint8Array, header: ImageHeader): Promise<RgbImage> {
  const deep = header.format === 'png' && header.bitDepth === 16;
  const { data, info } = await sharp(bytes, {
    limitInputPixels: Math.max(1, header.width * header.height),
    failOn: 'error',
    ignoreIcc: !header.cmyk,
  })
    .autoOrient()
    .toColourspace(deep ? 'rgb16' : 'srgb')
    .ensureAlpha()
    .raw({ depth: deep ? 'ushort' : 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 4) throw new Error(`the decoder returned ${info.channels} channels, not 4`);
  let rgba: Uint8Array;
  if (deep) {
    const wide = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
    rgba = new Uint8Array(wide.length);
    for (let i = 0; i < wide.length; i++) rgba[i] = Math.round((wide[i] * 255) / 65535);
  } else {
    rgba = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  return rgbaToRgb(rgba, info.width, info.height);
}

/** Raised when the folder itself cannot be listed (missing, not a folder, no permission). */
export class ImageFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageFolderError';
  }
}

/** Bytes read to tell an image from anything else before a file is read whole. */
const SNIFF_BYTES = 64;

async function readHead(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const head = new Uint8Array(SNIFF_BYTES);
    const { bytesRead } = await handle.read(head, 0, SNIFF_BYTES, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function explainFsError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return 'it cannot be read (permission denied).';
    case 'ELOOP':
      return 'it is a symbolic link that loops back on itself.';
    case 'ENOENT':
      return 'it is a symbolic link to a file that does not exist.';
    case 'EISDIR':
      return 'it is a folder.';
    default:
      return `it cannot be read (${e.message ?? String(error)}).`;
  }
}

/**
 * Lists a folder as lazy files, sorted by name so runs are reproducible; nothing is read yet, and every
 * entry is accounted for. The rule: only the files directly inside the folder are images; subfolders are
 * not entered (each is reported), symbolic links are followed to files (a dangling or looping link is
 * reported), hidden entries (names starting with '.') are reported, and anything that is not a regular file
 * (a socket, a device) is reported. A file's size is known before it is read, so an oversized one is
 * refused without reading it.
 */
export async function listImageFolder(dir: string): Promise<LazyImageFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    throw new ImageFolderError(`Cannot read the image folder ${dir}: ${(error as Error).message}`);
  }
  names.sort();
  const files: LazyImageFile[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const read = async () => new Uint8Array(await readFile(path));
    if (name.startsWith('.')) {
      files.push({ name, read, skip: 'it is hidden (its name starts with a dot).' });
      continue;
    }
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (error) {
      // stat follows links; lstat tells a broken link from a vanished file.
      const isLink = await lstat(path).then(
        (l) => l.isSymbolicLink(),
        () => false,
      );
      const reason = explainFsError(error);
      files.push({
        name,
        read,
        skip:
          isLink || (error as NodeJS.ErrnoException).code !== 'ENOENT'
            ? reason
            : 'it vanished while the folder was read.',
      });
      continue;
    }
    if (info.isDirectory()) {
      files.push({
        name,
        read,
        skip: 'it is a folder; only the images directly inside the chosen folder are read.',
      });
      continue;
    }
    if (!info.isFile()) {
      files.push({ name, read, skip: 'it is not a regular file (a device, socket or pipe).' });
      continue;
    }
    files.push({ name, size: info.size, read, readHead: () => readHead(path) });
  }
  return files;
}

/** Every file of a folder read into memory (small folders and tests); `listImageFolder` reads lazily. */
export async function readImageDirectory(dir: string): Promise<{ name: string; bytes: Uint8Array }[]> {
  const out: { name: string; bytes: Uint8Array }[] = [];
  for (const file of await listImageFolder(dir))
    if (!file.skip) out.push({ name: file.name, bytes: await file.read() });
  return out;
}

/**
 * A folder of the user's images as a dataset, for the CLI: read one file at a time, bad entries skipped with
 * reasons (returned for printing), and a folder with nothing usable throws `NoUsableImagesError` listing
 * each reason.
 */
export async function folderDatasetNode(
  dir: string,
  options: Omit<PhotoDatasetOptions, 'heldOut'>,
  imageOptions: Partial<ImageSetOptions> = {},
): Promise<{ dataset: PhotoDataset; skipped: SkippedFile[]; cacheBytes: number }> {
  const collection = new ImageCollection(decodeImageNode, { ...DEFAULT_IMAGE_SET_OPTIONS, ...imageOptions });
  await collection.add(await listImageFolder(dir));
  const dataset = userPhotoDataset(collection.requireUsable(), options);
  return { dataset, skipped: collection.skipped, cacheBytes: collection.bytes };
}
