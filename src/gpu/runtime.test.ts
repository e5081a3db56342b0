import { describe, expect, it } from 'vitest';
import { testGpu } from '../../tests/gpu';
import { DeviceLostError, type GpuEvent, GpuOperationError } from './errors';
import { createNodeGpu } from './node';
import { Profiler } from './profiler';
import { bindingLayout, grid1d, Params } from './runtime';

const NOOP_SHADER = `
override SCALE: f32 = 1.0;
@group(0) @binding(0) var<storage, read_write> data: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < arrayLength(&data)) { data[gid.x] = data[gid.x] * SCALE; }
}
`;

/** NOOP_SHADER's one slot. */
const NOOP_LAYOUT = bindingLayout('noop', { data: 'write' }, { uniforms: false });

describe('GPU runtime', () => {
  it('10,000 create/release cycles leave the live-buffer registry where it started and reuse pooled buffers', async () => {
    const gpu = await testGpu();
    const before = gpu.liveBuffers();
    const sizes = [4, 100, 4096, 70000, 3 << 20];
    for (let i = 0; i < 10000; i++) {
      const size = sizes[i % sizes.length];
      const a = gpu.createBuffer('loop.a', size);
      const b = gpu.createBuffer('loop.b', size + 8);
      expect(gpu.liveBuffers().count).toBe(before.count + 2);
      gpu.releaseBuffer(a);
      gpu.releaseBuffer(b);
    }
    const after = gpu.liveBuffers();
    expect(after.count).toBe(before.count);
    expect(after.bytes).toBe(before.bytes);
    // Reuse: the pool ends up holding exactly the buffers live at once in one iteration, by size class
    // (powers of two up to 1 MiB, then whole MiB): 4 and 12 → 16 B; 100 and 108 → 128 B; 4096 → 4 KiB and
    // 4104 → 8 KiB; 70000 and 70008 → 128 KiB; 3 MiB and 3 MiB + 8 → 3 and 4 MiB.
    const expectedPool = 2 * 16 + 2 * 128 + 4096 + 8192 + 2 * 131072 + (3 << 20) + (4 << 20);
    expect(after.pooledBytes - before.pooledBytes).toBeLessThanOrEqual(expectedPool);
    // Releasing twice or releasing a foreign buffer changes nothing.
    const extra = gpu.createBuffer('extra', 64);
    gpu.releaseBuffer(extra);
    gpu.releaseBuffer(extra);
    expect(gpu.liveBuffers().count).toBe(before.count);
  });

  it('tensors round-trip through upload and read, and release returns them', async () => {
    const gpu = await testGpu();
    const before = gpu.liveBuffers().count;
    const data = Float32Array.from({ length: 1001 }, (_, i) => i * 0.5 - 7);
    const t = gpu.upload('roundtrip', data, [7, 11, 13]);
    expect(t.length).toBe(1001);
    expect([...(await gpu.read(t))]).toEqual([...data]);
    gpu.releaseTensor(t);
    expect(gpu.liveBuffers().count).toBe(before);
    expect(() => gpu.upload('bad', data, [10, 10])).toThrow(/1001 values do not fit shape \[10, 10\]/);
  });

  it('caches pipelines by (source, entry point, constants)', async () => {
    const gpu = await testGpu();
    const base = { label: 'noop', code: NOOP_SHADER, entryPoint: 'main', layout: NOOP_LAYOUT };
    const count = gpu.pipelineCount;
    const first = gpu.kernel({ ...base, constants: { SCALE: 2 } });
    const again = gpu.kernel({ ...base, constants: { SCALE: 2 } });
    expect(again.pipeline).toBe(first.pipeline);
    const other = gpu.kernel({ ...base, constants: { SCALE: 3 } });
    expect(other.pipeline).not.toBe(first.pipeline);
    const otherSource = gpu.kernel({ ...base, code: `${NOOP_SHADER}\n// variant`, constants: { SCALE: 2 } });
    expect(otherSource.pipeline).not.toBe(first.pipeline);
    expect(gpu.pipelineCount).toBe(count + 3);
    // The constants reach the shader: SCALE = 3 triples the data.
    const t = gpu.upload('scaled', new Float32Array([1, -2, 5]));
    gpu.run('scale', [{ kernel: other, buffers: [t], workgroups: [1] }]);
    expect([...(await gpu.read(t))]).toEqual([3, -6, 15]);
    gpu.releaseTensor(t);
  });

  it('binds through explicit, labelled layouts: the slot count, uniforms and the zeros buffer are checked', async () => {
    const gpu = await testGpu();
    const shader = `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(1) @binding(0) var<uniform> has_b: u32;
@compute @workgroup_size(4)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < 4u) { out[gid.x] = a[gid.x] + select(0.0, b[gid.x], has_b == 1u); }
}`;
    const layout = bindingLayout('test.add', { out: 'write', a: 'read', b: 'read' });
    const kernel = gpu.kernel({ label: 'test.add', code: shader, entryPoint: 'main', layout });
    // One layout object per layout: a second pipeline of the same family shares it.
    const again = gpu.kernel({
      label: 'test.add',
      code: `${shader}\n// variant`,
      entryPoint: 'main',
      layout,
    });
    expect(again.groupLayouts[0]).toBe(kernel.groupLayouts[0]);
    const out = gpu.tensor('out', [4]);
    const a = gpu.upload('a', new Float32Array([1, 2, 3, 4]));
    const b = gpu.upload('b', new Float32Array([10, 20, 30, 40]));
    // An absent read-only input is the shared zeros buffer plus a flag.
    await gpu.checked('absent b', () =>
      gpu.run('absent b', [
        { kernel, buffers: [out, a, gpu.absentInput], params: new Params().u32(0), workgroups: [1] },
      ]),
    );
    expect([...(await gpu.read(out))]).toEqual([1, 2, 3, 4]);
    gpu.run('with b', [{ kernel, buffers: [out, a, b], params: new Params().u32(1), workgroups: [1] }]);
    expect([...(await gpu.read(out))]).toEqual([11, 22, 33, 44]);
    expect(() =>
      gpu.prepare({ kernel, buffers: [out, a], params: new Params().u32(0), workgroups: [1] }),
    ).toThrow(/test\.add has 3 buffer slots \(out, a, b\), but 2 buffers were given/);
    expect(() => gpu.prepare({ kernel, buffers: [out, a, b], workgroups: [1] })).toThrow(
      /binds uniforms but none/,
    );
    expect(() =>
      gpu.prepare({ kernel, buffers: [gpu.absentInput, a, b], params: new Params().u32(0), workgroups: [1] }),
    ).toThrow(/zeros buffer cannot stand in for the output out/);
    for (const t of [out, a, b]) gpu.releaseTensor(t);
  });

  it('checked() turns a validation error into a GpuOperationError naming the label, and emits an event', async () => {
    const gpu = await testGpu();
    const events: GpuEvent[] = [];
    const stop = gpu.events.on((e) => events.push(e));
    // MAP_READ may only be combined with COPY_DST: this buffer descriptor is invalid.
    const attempt = gpu.checked('deliberately invalid buffer', () =>
      gpu.device.createBuffer({ size: 16, usage: 0x01 | 0x80 }),
    );
    await expect(attempt).rejects.toThrow(GpuOperationError);
    await expect(attempt).rejects.toThrow(/deliberately invalid buffer: validation error/);
    stop();
    expect(events.some((e) => e.kind === 'validation' && e.label === 'deliberately invalid buffer')).toBe(
      true,
    );
    // Valid work passes through with its value.
    expect(await gpu.checked('fine', () => 42)).toBe(42);
  });

  it('validation errors outside an error scope arrive as typed events, not exceptions', async () => {
    const gpu = await testGpu();
    const event = new Promise<GpuEvent>((resolve) => {
      const stop = gpu.events.on((e) => {
        if (e.kind === 'validation' && e.label === 'uncaptured') {
          stop();
          resolve(e);
        }
      });
    });
    gpu.device.createBuffer({ label: 'uncaptured-invalid', size: 16, usage: 0x01 | 0x80 });
    await gpu.device.queue.onSubmittedWorkDone();
    const received = await Promise.race([
      event,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5000)),
    ]);
    expect(received?.message).toMatch(/usage/i);
  });

  it('a read-back whose copy fails throws instead of returning the previous read from the pooled staging buffer', async () => {
    const gpu = await testGpu();
    const good = gpu.upload('readback-good', new Float32Array([1, 2, 3, 4]));
    expect([...(await gpu.read(good))]).toEqual([1, 2, 3, 4]);
    // An invalid buffer (MAP_READ with STORAGE), as an allocation that failed leaves behind; its own scope
    // keeps the creation error out of the runtime's events.
    gpu.device.pushErrorScope('validation');
    const invalid = gpu.device.createBuffer({ label: 'failed-allocation', size: 16, usage: 0x01 | 0x80 });
    await gpu.device.popErrorScope();
    const read = gpu.readBytes(invalid, 0, 16);
    await expect(read).rejects.toThrow(GpuOperationError);
    await expect(read).rejects.toThrow(/read-back of failed-allocation: validation error/);
    // The runtime is still usable, and the next read is of the right buffer.
    expect([...(await gpu.read(good))]).toEqual([1, 2, 3, 4]);
    gpu.releaseTensor(good);
  });

  it('the pool keeps at most poolCapBytes of released buffers and destroys the rest', async () => {
    const gpu = await createNodeGpu('pool-cap-test');
    gpu.poolCapBytes = 3 * 4096;
    const buffers = Array.from({ length: 8 }, (_, i) => gpu.createBuffer(`b${i}`, 4096));
    for (const b of buffers) gpu.releaseBuffer(b);
    expect(gpu.liveBuffers()).toEqual({ count: 0, bytes: 0, pooledBytes: 3 * 4096 });
    gpu.trimPool();
    expect(gpu.liveBuffers().pooledBytes).toBe(0);
    gpu.destroy();
  });

  it('markLost() behaves as a lost device; its successor reuses the compiled pipelines', async () => {
    const gpu = await createNodeGpu('marked-loss-test');
    gpu.kernel({ label: 'noop', code: NOOP_SHADER, entryPoint: 'main', layout: NOOP_LAYOUT });
    gpu.markLost('injected');
    expect(() => gpu.tensor('after', [4])).toThrow(DeviceLostError);
    const next = gpu.successorAfterMarkedLoss();
    expect(next.isLost).toBe(false);
    expect(next.pipelineCount).toBe(1);
    next.destroy();
  });

  it('a destroyed device emits a typed device-lost event and later calls throw DeviceLostError', async () => {
    const gpu = await createNodeGpu('lost-device-test'); // its own device: the shared one must survive
    const lost = new Promise<GpuEvent>((resolve) => {
      gpu.events.on((e) => {
        if (e.kind === 'device-lost') resolve(e);
      });
    });
    const t = gpu.tensor('before-loss', [4]);
    gpu.destroy();
    const event = await lost;
    expect(event).toMatchObject({ kind: 'device-lost', reason: 'destroyed' });
    expect(gpu.isLost).toBe(true);
    expect(() => gpu.tensor('after-loss', [4])).toThrow(DeviceLostError);
    expect(() => gpu.submit('after-loss', () => {})).toThrow(DeviceLostError);
    expect(() =>
      gpu.kernel({ label: 'late', code: NOOP_SHADER, entryPoint: 'main', layout: NOOP_LAYOUT }),
    ).toThrow(DeviceLostError);
    await expect(gpu.read(t)).rejects.toThrow(DeviceLostError);
    await expect(gpu.idle()).rejects.toThrow(DeviceLostError);
    // Releasing after loss is harmless and clears the registry.
    gpu.releaseTensor(t);
    expect(gpu.liveBuffers().count).toBe(0);
  });

  it('the profiler returns per-pass GPU timings from timestamp queries', async () => {
    const gpu = await testGpu();
    expect(gpu.hasTimestamps).toBe(true); // SwiftShader offers timestamp-query; hardware adapters do too
    const profiler = new Profiler(gpu);
    expect(profiler.usesTimestamps).toBe(true);
    const kernel = gpu.kernel({
      label: 'noop',
      code: NOOP_SHADER,
      entryPoint: 'main',
      layout: NOOP_LAYOUT,
      constants: { SCALE: 1 },
    });
    const t = gpu.tensor('profiled', [1 << 16]);
    const dispatch = gpu.prepare({ kernel, buffers: [t], workgroups: [1024] });
    for (const label of ['first', 'second', 'third']) {
      gpu.submit(label, (pass) => dispatch.encode(pass), profiler.pass(label));
    }
    const timings = await profiler.collect();
    expect(timings.map((x) => x.label)).toEqual(['first', 'second', 'third']);
    for (const timing of timings) {
      expect(timing.source).toBe('timestamp');
      expect(Number.isFinite(timing.ms)).toBe(true);
      expect(timing.ms).toBeGreaterThanOrEqual(0);
    }
    // A second round starts from empty.
    expect(await profiler.collect()).toEqual([]);
    dispatch.release();
    gpu.releaseTensor(t);
    profiler.destroy();
  });

  it('the profiler falls back to wall time on devices without timestamp queries', async () => {
    const gpu = await testGpu();
    // The same runtime seen as a device without timestamp-query (everything else delegates to the real one).
    const withoutTimestamps = Object.create(gpu, { hasTimestamps: { value: false } }) as typeof gpu;
    const profiler = new Profiler(withoutTimestamps);
    expect(profiler.usesTimestamps).toBe(false);
    expect(profiler.pass('a')).toBeUndefined();
    expect(profiler.pass('b')).toBeUndefined();
    const timings = await profiler.collect();
    expect(timings).toHaveLength(1);
    expect(timings[0]).toMatchObject({ label: 'a+b', source: 'wall' });
    expect(timings[0].ms).toBeGreaterThanOrEqual(0);
  });

  it('Params packs 4-byte scalars little-endian in declaration order, padded to 16 bytes', () => {
    const bytes = new Params().u32(7).i32(-3).f32(0.5).u32(0xffffffff).f32(-2).bytes();
    expect(bytes.byteLength).toBe(32);
    const view = new DataView(bytes);
    expect(view.getUint32(0, true)).toBe(7);
    expect(view.getInt32(4, true)).toBe(-3);
    expect(view.getFloat32(8, true)).toBe(0.5);
    expect(view.getUint32(12, true)).toBe(0xffffffff);
    expect(view.getFloat32(16, true)).toBe(-2);
    expect(view.getUint32(20, true)).toBe(0);
    expect(new Params().bytes().byteLength).toBe(16);
    expect(new Params().u32(1).u32(2).u32(3).u32(4).bytes().byteLength).toBe(16);
    expect(() => new Params().u32(-1)).toThrow(RangeError);
    expect(() => new Params().u32(1.5)).toThrow(RangeError);
    expect(() => new Params().i32(0.25)).toThrow(RangeError);
  });

  it('grid1d splits large workgroup counts over x and y without losing any', () => {
    expect(grid1d(1)).toEqual([1, 1, 1]);
    expect(grid1d(65535)).toEqual([65535, 1, 1]);
    for (const n of [65536, 100000, 65535 * 3 + 1]) {
      const [x, y] = grid1d(n);
      expect(x).toBeLessThanOrEqual(65535);
      expect(x * y).toBeGreaterThanOrEqual(n);
      expect(x * (y - 1)).toBeLessThan(n);
    }
  });

  it('prepare() rejects grids beyond the per-dimension limit with a sentence', async () => {
    const gpu = await testGpu();
    const kernel = gpu.kernel({
      label: 'noop',
      code: NOOP_SHADER,
      entryPoint: 'main',
      layout: NOOP_LAYOUT,
      constants: { SCALE: 1 },
    });
    const t = gpu.tensor('t', [4]);
    expect(() => gpu.prepare({ kernel, buffers: [t], workgroups: [70000] })).toThrow(
      /exceeds 65535 workgroups/,
    );
    gpu.releaseTensor(t);
  });
});
