/**
 * Reading a model's state back from its arenas under the official names and PyTorch layouts: the one loop
 * the SparK model and the probe's encoder share. Entries that live in neither arena (integer counters such as
 * BatchNorm's `num_batches_tracked`) come from the caller, so the map keeps the entries' own order.
 */
import { fromGpuLayout } from '../engine/layout';
import type { Arena } from '../engine/params';
import type { Gpu } from '../gpu/runtime';
import type { StateEntry } from './official-names';

export async function readArenaState(
  gpu: Gpu,
  entries: readonly StateEntry[],
  params: Arena,
  stats: Arena,
  other?: (entry: StateEntry) => Float32Array,
): Promise<Map<string, Float32Array>> {
  const paramValues = await gpu.read(params.whole('values'));
  const statValues = stats.size > 0 ? await gpu.read(stats.whole('values')) : new Float32Array(0);
  const out = new Map<string, Float32Array>();
  for (const e of entries) {
    if (e.kind === 'param') {
      const entry = params.get(e.name);
      out.set(
        e.name,
        fromGpuLayout(
          entry.layout,
          entry.officialShape,
          paramValues.subarray(entry.offset, entry.offset + entry.length),
        ),
      );
    } else if (e.dtype === 'F32') {
      const entry = stats.get(e.name);
      out.set(e.name, statValues.slice(entry.offset, entry.offset + entry.length));
    } else if (other) out.set(e.name, other(e));
  }
  return out;
}
