/** A `ByteSource` over a file on disk (Node only): reads go through one open file handle. */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { PthError } from './errors';
import { type ByteSource, checkRange } from './source';

export interface ClosableByteSource extends ByteSource {
  close(): Promise<void>;
}

export async function fileSource(path: string): Promise<ClosableByteSource> {
  const handle = await open(path, 'r');
  const { size } = await handle.stat();
  const source: ClosableByteSource = {
    name: basename(path),
    size,
    async read(offset, length) {
      checkRange(source, offset, length);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0)
          throw new PthError(
            `${source.name} became shorter while it was being read (at byte ${offset + done}).`,
          );
        done += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
  return source;
}
