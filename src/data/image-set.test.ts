import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../util/random';
import { decodeImageNode, folderDatasetNode, readImageDirectory } from './decode-node';
import {
  applyOrientation,
  exifOrientation,
  IMAGENET_MEAN_RGB8,
  type ImageHeader,
  probeImage,
  type RgbImage,
} from './image';
import {
  type DecodeImage,
  ImageCollection,
  NoUsableImagesError,
  readImageSources,
  skipMessage,
} from './image-set';
import { hugePngBytes, jpegBytes, png16Bytes, pngBytes, withOrientation } from './test-images';

const PHOTOS = new URL('../../public/data/photos/', import.meta.url);

function countingDecoder(): { decode: DecodeImage; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    decode: async (bytes: Uint8Array, header: ImageHeader) => {
      calls.push(`${header.width}x${header.height}`);
      return decodeImageNode(bytes, header);
    },
  };
}

const rgbPixel = (image: RgbImage, x: number, y: number) =>
  Array.from(image.data.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3));

describe('probeImage', () => {
  it('reads size and format of the shipped PNG and JPEG photos', async () => {
    const png = probeImage(new Uint8Array(await readFile(new URL('chelsea.png', PHOTOS))));
    expect(png).toEqual({
      ok: true,
      header: {
        format: 'png',
        width: 451,
        height: 300,
        bitDepth: 8,
        channels: 3,
        hasAlpha: false,
        cmyk: false,
      },
    });
    const jpg = probeImage(new Uint8Array(await readFile(new URL('rocket.jpg', PHOTOS))));
    expect(jpg.ok && jpg.header).toMatchObject({ format: 'jpeg', width: 640, height: 427, channels: 3 });
  });

  it('names other image formats instead of calling them garbage', () => {
    const gif = new TextEncoder().encode('GIF89a\x01\0\x01\0');
    expect(probeImage(gif)).toEqual({
      ok: false,
      reason: 'it is a GIF file; only PNG, JPEG, WebP and AVIF images are supported.',
    });
  });

  it('refuses a PNG cut anywhere after its signature', () => {
    const full = pngBytes(4, 3, new Array(48).fill(7));
    expect(probeImage(full).ok).toBe(true);
    for (let cut = 8; cut < full.length; cut++) {
      const result = probeImage(full.subarray(0, cut));
      expect(result.ok, `cut at ${cut}`).toBe(false);
      if (!result.ok) expect(result.reason).toMatch(/truncated|header/);
    }
  });

  it('refuses a JPEG cut anywhere after its header', () => {
    const full = jpegBytes(16, 16, (x, y) => [x * 16, y * 16, 128]);
    expect(probeImage(full).ok).toBe(true);
    for (let cut = 3; cut < full.length - 1; cut++) {
      expect(probeImage(full.subarray(0, cut)).ok, `cut at ${cut}`).toBe(false);
    }
  });
});

describe('ImageCollection with the Node decoders', () => {
  it('decodes RGB, grey, grey+alpha, RGBA and 16-bit PNGs and RGB JPEGs to 8-bit RGB', async () => {
    const images = new ImageCollection(decodeImageNode);
    const { added, skipped } = await images.add([
      { name: 'rgb.png', bytes: pngBytes(2, 1, [10, 20, 30, 255, 40, 50, 60, 255], { colorType: 2 }) },
      { name: 'grey.png', bytes: pngBytes(2, 1, [90, 90, 90, 255, 200, 200, 200, 255], { colorType: 0 }) },
      { name: 'grey-alpha.png', bytes: pngBytes(1, 1, [200, 200, 200, 0], { colorType: 4 }) },
      { name: 'rgba.png', bytes: pngBytes(2, 1, [255, 0, 0, 0, 0, 255, 0, 255], { colorType: 6 }) },
      { name: 'deep.png', bytes: png16Bytes(2, 1, [0xffff, 0x8080, 0, 0x1234, 0x5678, 0x9abc]) },
      { name: 'photo.jpg', bytes: jpegBytes(8, 8, () => [200, 100, 50]) },
    ]);
    expect(skipped).toEqual([]);
    const byName = Object.fromEntries(added.map((image) => [image.name, image]));
    expect(rgbPixel(byName['rgb.png'], 1, 0)).toEqual([40, 50, 60]);
    expect(rgbPixel(byName['grey.png'], 0, 0)).toEqual([90, 90, 90]);
    expect(rgbPixel(byName['grey.png'], 1, 0)).toEqual([200, 200, 200]);
    // Fully transparent pixels become the background (ImageNet mean), opaque ones keep their colour.
    expect(rgbPixel(byName['grey-alpha.png'], 0, 0)).toEqual([...IMAGENET_MEAN_RGB8]);
    expect(rgbPixel(byName['rgba.png'], 0, 0)).toEqual([...IMAGENET_MEAN_RGB8]);
    expect(rgbPixel(byName['rgba.png'], 1, 0)).toEqual([0, 255, 0]);
    // 16-bit samples are rescaled to 8 bits: v·255/65535 rounded.
    expect(rgbPixel(byName['deep.png'], 0, 0)).toEqual([255, 128, 0]);
    expect(rgbPixel(byName['deep.png'], 1, 0)).toEqual([18, 86, 154]);
    const jpg = rgbPixel(byName['photo.jpg'], 3, 3);
    for (const [c, v] of jpg.entries()) expect(Math.abs(v - [200, 100, 50][c])).toBeLessThanOrEqual(3);
    expect(images.bytes).toBe(3 * (2 + 2 + 1 + 2 + 2 + 64));
  });

  it('skips every bad kind with a reason sentence and keeps the good files', async () => {
    const good = pngBytes(3, 3, new Array(36).fill(128));
    const goodJpeg = jpegBytes(16, 16, (x) => [x * 10, 0, 0]);
    const { decode, calls } = countingDecoder();
    const images = new ImageCollection(decode);
    const { added, skipped } = await images.add([
      { name: 'empty.png', bytes: new Uint8Array(0) },
      { name: 'good.png', bytes: good },
      { name: 'cut.png', bytes: good.subarray(0, good.length - 20) },
      { name: 'cut.jpg', bytes: goodJpeg.subarray(0, Math.floor(goodJpeg.length * 0.6)) },
      { name: 'notes.txt', bytes: new TextEncoder().encode('hello, not a picture') },
      { name: 'huge.png', bytes: hugePngBytes(20000) },
      { name: 'good.jpg', bytes: goodJpeg },
    ]);
    expect(added.map((image) => image.name)).toEqual(['good.png', 'good.jpg']);
    const reasons = Object.fromEntries(skipped.map((s) => [s.name, s.reason]));
    expect(Object.keys(reasons)).toEqual(['empty.png', 'cut.png', 'cut.jpg', 'notes.txt', 'huge.png']);
    expect(reasons['empty.png']).toBe('the file is empty (0 bytes).');
    expect(reasons['cut.png']).toMatch(/truncated/);
    expect(reasons['cut.jpg']).toMatch(/truncated/);
    expect(reasons['notes.txt']).toBe('it is not an image (not PNG, JPEG, WebP or AVIF).');
    expect(reasons['huge.png']).toMatch(/^it is 20000×20000 pixels \(400 Mpx\), larger than/);
    // Only the two good files reached the decoder: the huge one was refused from its header.
    expect(calls).toEqual(['3x3', '16x16']);
    expect(skipMessage(skipped[0])).toBe('empty.png was skipped because the file is empty (0 bytes).');
  });

  it('reports a decoder failure as a reason, not a crash', async () => {
    const good = pngBytes(2, 2, new Array(16).fill(50));
    const corrupt = good.slice();
    corrupt[corrupt.length - 20] ^= 0xff; // inside IDAT: the CRC no longer matches
    const images = new ImageCollection(decodeImageNode);
    const { skipped } = await images.add([{ name: 'corrupt.png', bytes: corrupt }]);
    expect(skipped).toHaveLength(1);
    expect(skipped[0].reason).toMatch(/^it could not be decoded \(.+\); the file may be damaged\.$/);
  });

  it('raises a clear error listing each reason when no file is usable', async () => {
    const images = new ImageCollection(decodeImageNode);
    await images.add([
      { name: 'a.png', bytes: new Uint8Array(0) },
      { name: 'b.txt', bytes: new TextEncoder().encode('nope') },
    ]);
    expect(() => images.requireUsable()).toThrow(NoUsableImagesError);
    expect(() => images.requireUsable()).toThrow(
      'None of the 2 files could be used for training:\n' +
        '  - a.png was skipped because the file is empty (0 bytes).\n' +
        '  - b.txt was skipped because it is not an image (not PNG, JPEG, WebP or AVIF).',
    );
    expect(() => new ImageCollection(decodeImageNode).requireUsable()).toThrow(/No images were given/);
  });

  it('shrinks large images to the stored side and stops at the memory budget', async () => {
    const big = pngBytes(40, 20, new Array(40 * 20 * 4).fill(255));
    const images = new ImageCollection(decodeImageNode, {
      maxStoredSide: 10,
      memoryBudgetBytes: 10 * 5 * 3 * 2,
    });
    const { added, skipped } = await images.add([
      { name: 'one.png', bytes: big },
      { name: 'two.png', bytes: big },
      { name: 'three.png', bytes: big },
    ]);
    expect(added.map((i) => [i.name, i.width, i.height])).toEqual([
      ['one.png', 10, 5],
      ['two.png', 10, 5],
    ]);
    expect(Array.from(added[0].data).every((v) => v === 255)).toBe(true);
    expect(skipped).toEqual([
      {
        name: 'three.png',
        reason: 'the image cache is full (its 0.00 MiB budget is used by the images before it).',
      },
    ]);
    expect(images.bytes).toBe(300);
  });

  it('loads the shipped photo folder: 12 photos, the grey ones as RGB', async () => {
    const files = await readImageDirectory(new URL('../../public/data/photos', import.meta.url).pathname);
    const imageFiles = files.filter((f) => /\.(png|jpg)$/.test(f.name));
    expect(imageFiles).toHaveLength(12);
    const images = new ImageCollection(decodeImageNode, { maxStoredSide: 4096 });
    const { added, skipped } = await images.add(imageFiles.filter((f) => /^(camera|rocket)/.test(f.name)));
    expect(skipped).toEqual([]);
    const camera = added.find((i) => i.name === 'camera.png')!;
    expect([camera.width, camera.height]).toEqual([512, 512]);
    const [r, g, b] = rgbPixel(camera, 100, 100);
    expect(r === g && g === b).toBe(true);
    const rocket = added.find((i) => i.name === 'rocket.jpg')!;
    expect([rocket.width, rocket.height]).toEqual([640, 427]);
  });

  it('reports an unreadable folder in a sentence', async () => {
    await expect(readImageDirectory('/definitely/not/here')).rejects.toThrow(
      /^Cannot read the image folder \/definitely\/not\/here: /,
    );
  });
});

describe('user folders and files', () => {
  it('reads File objects and plain byte records alike', async () => {
    const files = await readImageSources([
      new File([new Uint8Array([1, 2, 3])], 'picked.png'),
      { name: 'read.png', bytes: new Uint8Array([4]) },
    ]);
    const read = await Promise.all(files.map(async (f) => [f.name, Array.from(await f.read())]));
    expect(read).toEqual([
      ['picked.png', [1, 2, 3]],
      ['read.png', [4]],
    ]);
  });

  it('turns a folder with good and bad files into a dataset plus reasons; an all-bad folder is an error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sparklab-folder-'));
    try {
      for (let i = 0; i < 5; i++)
        await writeFile(join(dir, `good${i}.png`), pngBytes(12, 10, new Array(480).fill(30 * i)));
      await writeFile(join(dir, 'empty.jpg'), new Uint8Array(0));
      await writeFile(join(dir, 'readme.txt'), 'not a picture');
      const { dataset, skipped, cacheBytes } = await folderDatasetNode(dir, { imageSize: 8 });
      expect(skipped.map((s) => s.name)).toEqual(['empty.jpg', 'readme.txt']);
      expect([dataset.trainCount, dataset.heldOutCount]).toEqual([4, 1]);
      expect(dataset.heldOut[0].name).toBe('good4.png');
      expect(cacheBytes).toBe(5 * 12 * 10 * 3);
      expect(dataset.trainBatch(2, new Rng(0)).length).toBe(2 * 3 * 64);
      const bad = join(dir, 'bad');
      await mkdir(bad);
      await writeFile(join(bad, 'x.png'), new Uint8Array(0));
      await expect(folderDatasetNode(bad, { imageSize: 8 })).rejects.toThrow(
        'None of the 1 files could be used for training:\n  - x.png was skipped because the file is empty (0 bytes).',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('EXIF orientation', () => {
  /** 3×2 image whose pixel (x, y) has red = 10·x + 100·y. */
  const tiny: RgbImage = {
    width: 3,
    height: 2,
    data: Uint8Array.from(
      [0, 1, 2, 100, 101, 102].flatMap((v) => [10 * (v % 100) + 100 * Math.floor(v / 100), 0, 0]),
    ),
  };
  const reds = (image: RgbImage) =>
    Array.from({ length: image.width * image.height }, (_, i) => image.data[i * 3]);

  it('applies the eight orientations as displayed (hand-written 6 and 8, inverses for all)', () => {
    // Rows: [0, 10, 20] / [100, 110, 120]. Rotated 90° clockwise (6): [100, 0] / [110, 10] / [120, 20].
    const cw = applyOrientation(tiny, 6);
    expect([cw.width, cw.height, reds(cw)]).toEqual([2, 3, [100, 0, 110, 10, 120, 20]]);
    const ccw = applyOrientation(tiny, 8);
    expect(reds(ccw)).toEqual([20, 120, 10, 110, 0, 100]);
    expect(reds(applyOrientation(tiny, 2))).toEqual([20, 10, 0, 120, 110, 100]);
    expect(reds(applyOrientation(tiny, 4))).toEqual([100, 110, 120, 0, 10, 20]);
    for (const [a, b] of [
      [2, 2],
      [3, 3],
      [4, 4],
      [5, 5],
      [7, 7],
      [6, 8],
      [8, 6],
    ]) {
      expect(reds(applyOrientation(applyOrientation(tiny, a), b)), `${a} then ${b}`).toEqual(reds(tiny));
    }
    expect(applyOrientation(tiny, 1)).toBe(tiny);
  });

  it('reads the Orientation tag from big- and little-endian EXIF, and ignores a damaged block', () => {
    const plain = jpegBytes(8, 8, () => [0, 0, 0]);
    for (const little of [false, true]) {
      const bytes = withOrientation(plain, 6, little);
      const probe = probeImage(bytes);
      expect(probe.ok && probe.header.orientation).toBe(6);
    }
    const damaged = withOrientation(plain, 6);
    damaged[2 + 4 + 6 + 4] = 0xff; // IFD offset now points far outside the segment
    expect(exifOrientation(damaged, 6, 6 + 30)).toBe(1);
    const probe = probeImage(plain);
    expect(probe.ok && probe.header.orientation).toBe(1);
  });

  it('decodes a phone-style portrait JPEG (orientation 6) upright in Node', async () => {
    // Stored landscape 16×8, left half white; displayed as portrait 8×16 with the white half on top.
    const stored = jpegBytes(16, 8, (x) => (x < 8 ? [255, 255, 255] : [0, 0, 0]));
    const images = new ImageCollection(decodeImageNode);
    const { added, skipped } = await images.add([
      { name: 'portrait.jpg', bytes: withOrientation(stored, 6) },
    ]);
    expect(skipped).toEqual([]);
    const [image] = added;
    expect([image.width, image.height]).toEqual([8, 16]);
    expect(rgbPixel(image, 4, 2)[0]).toBeGreaterThan(230);
    expect(rgbPixel(image, 4, 13)[0]).toBeLessThan(25);
  });
});
