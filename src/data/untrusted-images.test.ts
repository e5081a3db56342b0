import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDeflate } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImageNode, folderDatasetNode, listImageFolder } from './decode-node';
import { probeImage } from './image';
import { ImageCollection, type LazyImageFile } from './image-set';
import { pngBytes } from './test-images';

const directories: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sparklab-images-'));
  directories.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of directories) await rm(dir, { recursive: true, force: true });
});

/** A 4×2 picture, left half red, right half blue, encoded by sharp (libvips) in `format`. */
async function encoded(format: 'jpeg-cmyk' | 'webp' | 'avif' | 'png'): Promise<Uint8Array> {
  const raw = Buffer.alloc(4 * 2 * 3);
  for (let i = 0; i < 8; i++) raw.set(i % 4 < 2 ? [230, 20, 20] : [20, 20, 230], i * 3);
  const image = sharp(raw, { raw: { width: 4, height: 2, channels: 3 } });
  const out =
    format === 'jpeg-cmyk'
      ? await image.toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer()
      : format === 'webp'
        ? await image.webp({ lossless: true }).toBuffer()
        : format === 'avif'
          ? await image.avif({ quality: 100, lossless: true }).toBuffer()
          : await image.png().toBuffer();
  return new Uint8Array(out);
}

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * An interlaced 64×64 grey PNG whose image data inflates to `inflatedMiB` MiB of zeros: a few KiB on disk,
 * far more than the 4 KiB the picture needs once inflated.
 */
async function inflationBomb(inflatedMiB: number): Promise<Uint8Array> {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, 64);
  view.setUint32(4, 64);
  ihdr.set([8, 0, 0, 0, 1], 8); // 8-bit grey, deflate, adaptive filter, Adam7 interlace
  // Deflated a MiB at a time, so building the bomb does not itself hold the inflated size in memory.
  const deflate = createDeflate({ level: 9 });
  const pieces: Buffer[] = [];
  deflate.on('data', (piece: Buffer) => pieces.push(piece));
  const zeros = new Uint8Array(2 ** 20);
  for (let i = 0; i < inflatedMiB; i++) deflate.write(zeros);
  await new Promise<void>((resolve) => deflate.end(resolve));
  const idat = new Uint8Array(Buffer.concat(pieces));
  const parts = [
    Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', idat),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('Node decoding through sharp (bounded, formats browsers read)', () => {
  it('decodes CMYK JPEG, WebP and AVIF to RGB in Node, sizes from the probe', async () => {
    const images = new ImageCollection(decodeImageNode);
    const { added, skipped } = await images.add([
      { name: 'print.jpg', bytes: await encoded('jpeg-cmyk') },
      { name: 'web.webp', bytes: await encoded('webp') },
      { name: 'photo.avif', bytes: await encoded('avif') },
    ]);
    expect(skipped).toEqual([]);
    for (const image of added) {
      expect([image.name, image.width, image.height]).toEqual([image.name, 4, 2]);
      const left = Array.from(image.data.subarray(0, 3));
      const right = Array.from(image.data.subarray(9, 12));
      // Colour round trips (CMYK, chroma subsampling of 2-px halves) are approximate: red stays red, blue blue.
      expect(left[0] - left[2]).toBeGreaterThan(60);
      expect(right[2] - right[0]).toBeGreaterThan(60);
    }
    const cmyk = probeImage(await encoded('jpeg-cmyk'));
    expect(cmyk.ok && cmyk.header.cmyk).toBe(true);
  });

  it('bounds PNG inflation: a 256 MiB interlaced inflation bomb (256 KiB on disk) costs little', async () => {
    const bomb = await inflationBomb(256);
    expect(bomb.byteLength).toBeLessThan(300 * 1024);
    expect(probeImage(bomb).ok).toBe(true);
    const images = new ImageCollection(decodeImageNode);
    const started = performance.now();
    const before = process.memoryUsage().rss;
    const { added, skipped } = await images.add([{ name: 'bomb.png', bytes: bomb }]);
    const grown = process.memoryUsage().rss - before;
    // Either outcome is fine (a 64×64 image, or a reason); inflating the whole stream is not (pngjs held
    // 2× the inflated size for seconds).
    expect(added.length + skipped.length).toBe(1);
    expect(grown).toBeLessThan(64 * 2 ** 20);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('refuses an image with more pixels than its header declared', async () => {
    const png = await encoded('png');
    const header = probeImage(png);
    if (!header.ok) throw new Error(header.reason);
    await expect(decodeImageNode(png, { ...header.header, width: 2, height: 2 })).rejects.toThrow(/pixel/i);
  });
});

describe('one file at a time, size before reading, stop at the budget', () => {
  function lazy(name: string, bytes: Uint8Array, reads: string[], size = bytes.byteLength): LazyImageFile {
    return {
      name,
      size,
      read: async () => {
        reads.push(name);
        return bytes;
      },
      readHead: async () => bytes.subarray(0, 64),
    };
  }

  it('refuses oversized files and large non-images from their size or first bytes, without reading them', async () => {
    const reads: string[] = [];
    const video = new Uint8Array(2 * 2 ** 20);
    video.set(new TextEncoder().encode('\0\0\0\x18ftypmp42'));
    const images = new ImageCollection(decodeImageNode);
    const { added, skipped } = await images.add([
      lazy('movie.mp4', video, reads),
      lazy('disk.img', new Uint8Array(16), reads, 3 * 2 ** 30),
      lazy('ok.png', pngBytes(2, 2, new Array(16).fill(9)), reads),
    ]);
    expect(added.map((i) => i.name)).toEqual(['ok.png']);
    expect(reads).toEqual(['ok.png']);
    expect(skipped[0].reason).toMatch(/^it is a HEIF\/HEIC file|not an image/);
    expect(skipped[1].reason).toBe(
      'it is 3072 MiB, more than the 256 MiB an image file may be (is it a video or an archive?).',
    );
  });

  it('stops reading once the memory budget is spent', async () => {
    const reads: string[] = [];
    const png = pngBytes(4, 4, new Array(64).fill(200));
    const images = new ImageCollection(decodeImageNode, { memoryBudgetBytes: 4 * 4 * 3 });
    const { added, skipped } = await images.add([
      lazy('a.png', png, reads),
      lazy('b.png', png, reads),
      lazy('c.png', png, reads),
    ]);
    expect(added.map((i) => i.name)).toEqual(['a.png']);
    expect(reads).toEqual(['a.png']);
    expect(skipped.map((s) => s.reason)).toEqual([
      expect.stringMatching(/^the image cache is full/),
      expect.stringMatching(/^the image cache is full/),
    ]);
  });

  it('one unreadable dropped file is one reason, not a failed drop', async () => {
    class UnreadableFile extends File {
      override async arrayBuffer(): Promise<ArrayBuffer> {
        throw new DOMException('The file could not be read.', 'NotReadableError');
      }
    }
    const images = new ImageCollection(decodeImageNode);
    const { added, skipped } = await images.add([
      new UnreadableFile([new Uint8Array(10)], 'gone.png'),
      new File([pngBytes(2, 2, new Array(16).fill(9)) as Uint8Array<ArrayBuffer>], 'fine.png'),
    ]);
    expect(added.map((i) => i.name)).toEqual(['fine.png']);
    expect(skipped).toEqual([
      { name: 'gone.png', reason: 'it could not be read (The file could not be read.).' },
    ]);
  });
});

describe('hostile folders: every entry is an image or a reason', () => {
  it('reports links, loops, subfolders, hidden and huge files, and trains on the rest', async () => {
    const dir = await tempDir();
    for (let i = 0; i < 4; i++)
      await writeFile(join(dir, `good${i}.png`), pngBytes(6, 6, new Array(144).fill(40 * i)));
    await symlink(join(dir, 'loop-b'), join(dir, 'loop-a'));
    await symlink(join(dir, 'loop-a'), join(dir, 'loop-b'));
    await symlink(join(dir, 'nowhere.png'), join(dir, 'dangling.png'));
    await symlink(join(dir, 'good0.png'), join(dir, 'linked.png'));
    await mkdir(join(dir, 'holiday'));
    await writeFile(join(dir, 'holiday', 'inside.png'), pngBytes(2, 2, new Array(16).fill(1)));
    await writeFile(join(dir, '.DS_Store'), 'x');
    // Sparse: 3 GiB on paper, nothing on disk; refused from its size, never read.
    await writeFile(join(dir, 'backup.iso'), '');
    await truncate(join(dir, 'backup.iso'), 3 * 2 ** 30);
    const { dataset, skipped } = await folderDatasetNode(dir, { imageSize: 4 });
    expect(dataset.trainCount + dataset.heldOutCount).toBe(5);
    const reasons = Object.fromEntries(skipped.map((s) => [s.name, s.reason]));
    expect(reasons).toEqual({
      '.DS_Store': 'it is hidden (its name starts with a dot).',
      'backup.iso':
        'it is 3072 MiB, more than the 256 MiB an image file may be (is it a video or an archive?).',
      'dangling.png': 'it is a symbolic link to a file that does not exist.',
      holiday: 'it is a folder; only the images directly inside the chosen folder are read.',
      'loop-a': 'it is a symbolic link that loops back on itself.',
      'loop-b': 'it is a symbolic link that loops back on itself.',
    });
  });

  it('reports a file that fails to read (permission denied) as a reason', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'secret.png'), pngBytes(2, 2, new Array(16).fill(1)));
    const [entry] = await listImageFolder(dir);
    const denied: LazyImageFile = {
      ...entry,
      read: async () => {
        throw Object.assign(new Error("EACCES: permission denied, open 'secret.png'"), { code: 'EACCES' });
      },
    };
    const { skipped } = await new ImageCollection(decodeImageNode).add([denied]);
    expect(skipped).toEqual([
      { name: 'secret.png', reason: "it could not be read (EACCES: permission denied, open 'secret.png')." },
    ]);
  });
});
