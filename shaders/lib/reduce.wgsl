// Library (no entry points): workgroup reductions in a fixed order, so results are bit-identical from run to
// run on a given adapter (WGSL core has no float atomics; cross-workgroup sums go through partial buffers and
// an ordered second pass, e.g. shaders/slice_reduce.wgsl). Both functions contain barriers: call them in
// uniform control flow, from every invocation of the workgroup.

var<workgroup> reduce_slots: array<vec2f, 256>;

// Tree sum of a pair over the first `threads` (a power of two ≤ 256) invocations, in a fixed pairing order;
// every invocation gets the totals.
fn workgroup_sum2(lid: u32, threads: u32, value: vec2f) -> vec2f {
  reduce_slots[lid] = value;
  workgroupBarrier();
  for (var stride = threads / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { reduce_slots[lid] += reduce_slots[lid + stride]; }
    workgroupBarrier();
  }
  let total = reduce_slots[0];
  workgroupBarrier(); // everyone has read the total before the slots are reused
  return total;
}

// Column partials of a 64 × 4 workgroup (x = 64 columns, y = 4 row lanes): the sum of the 4 lanes of this
// invocation's column, added in lane order 0..3. Meaningful for every lane; callers write it from lane 0.
fn lane_column_sum2(lid: vec3u, value: vec2f) -> vec2f {
  reduce_slots[lid.y * 64u + lid.x] = value;
  workgroupBarrier();
  var total = vec2f(0.0);
  for (var lane = 0u; lane < 4u; lane++) { total += reduce_slots[lane * 64u + lid.x]; }
  workgroupBarrier(); // everyone has read its column before the slots are reused
  return total;
}
