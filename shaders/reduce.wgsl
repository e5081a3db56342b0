// Reductions without atomics: every cross-workgroup sum goes through a partials buffer and a second pass that
// adds the partials in a fixed order, so results are bit-identical from run to run on a given adapter.
//
//   sum / sum of squares of x[n]:
//     partial_sum(_squares): workgroup w sums elements w·256 + lid, stepping by (workgroups·256), then a
//                            tree in workgroup memory → dst[w]
//     final_sum:             one workgroup sums dst[0 .. count) → out[0]
//   column sums of x[rows, cols] (bias gradients), optionally × a cell mask per row (the dense conv's masked dy):
//     column_partials:       workgroup (x = 64 columns, y = row block) with 4 row lanes per column → the block's
//                            column sums, written (or added, when it is the only block) to dst[block·cols + col]
//     column_final:          one thread per column sums the blocks in order (and accumulates) → out[col]
//   per-segment and global Σx² over one buffer holding many tensors (gradient norms for LAMB / clipping):
//     chunk_sum_squares:     one workgroup per chunk of a segment (table: start, end) → partials[chunk]
//     segment_totals:        one thread per segment sums its chunks in order → out[segment]
//     global_total:          one workgroup sums out[0 .. segments) → out[segments], √ → out[segments + 1]

// ReduceParams is declared in src/engine/reduce.ts. Column sums with a mask: row r is pixel (b, y, x) of a
// [B, height, width] map, weighted by mask[b, y / cell_h, x / cell_w] (MASK_MODE 1: u32 flags, 2: f32 values
// as bit patterns).

override MASK_MODE: u32 = 0u;

@group(0) @binding(0) var<storage, read_write> dst: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(0) var<uniform> params: ReduceParams;

// Tree sum over the 256 invocations of a workgroup (shaders/lib/reduce.wgsl), in a fixed pairing order. Must
// be called in uniform control flow; every invocation gets the total.
fn workgroup_sum(lid: u32, value: f32) -> f32 {
  return workgroup_sum2(lid, 256u, vec2f(value, 0.0)).x;
}

fn strided_sum(start: u32, step: u32, squares: bool) -> f32 {
  var sum = 0.0;
  for (var i = start; i < params.n; i += step) {
    let v = x[i];
    sum += select(v, v * v, squares);
  }
  return sum;
}

@compute @workgroup_size(256)
fn partial_sum(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let total = workgroup_sum(lid.x, strided_sum(wid.x * 256u + lid.x, nwg.x * 256u, false));
  if (lid.x == 0u) { dst[wid.x] = total; }
}

@compute @workgroup_size(256)
fn partial_sum_squares(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let total = workgroup_sum(lid.x, strided_sum(wid.x * 256u + lid.x, nwg.x * 256u, true));
  if (lid.x == 0u) { dst[wid.x] = total; }
}

// Bindings of the second passes: the partials are read from binding 1 (as x above).
@compute @workgroup_size(256)
fn final_sum(@builtin(local_invocation_id) lid: vec3u) {
  let total = workgroup_sum(lid.x, strided_sum(lid.x, 256u, false));
  if (lid.x == 0u) { dst[0] = total; }
}

// ---------------------------------------------------------------- column sums

// Bound for every column_partials dispatch (the TS binds x again when there is no mask: never read then).
@group(0) @binding(2) var<storage, read> row_mask: array<u32>;

fn row_weight(row: u32) -> f32 {
  if (MASK_MODE == 0u) { return 1.0; }
  let x_pos = row % params.width;
  let t = row / params.width;
  let v = row_mask[((t / params.height) * params.grid_h + (t % params.height) / params.cell_h) * params.grid_w + x_pos / params.cell_w];
  if (MASK_MODE == 1u) { return select(0.0, 1.0, v != 0u); }
  return bitcast<f32>(v);
}

@compute @workgroup_size(64, 4)
fn column_partials(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let col = wid.x * 64u + lid.x;
  let rows = params.n;
  let begin = wid.y * params.rows_per_block;
  let end = min(rows, begin + params.rows_per_block);
  var sum = 0.0;
  if (col < params.cols) {
    for (var row = begin + lid.y; row < end; row += 4u) { sum += x[row * params.cols + col] * row_weight(row); }
  }
  let lane_total = lane_column_sum2(lid, vec2f(sum, 0.0)).x;
  if (lid.y == 0u && col < params.cols) {
    var total = lane_total;
    let index = wid.y * params.cols + col;
    if (params.accumulate != 0u) { total += dst[index]; }
    dst[index] = total;
  }
}

@compute @workgroup_size(256)
fn column_final(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let col = grid_index(wid, nwg, lid.x);
  if (col >= params.cols) { return; }
  var total = 0.0;
  for (var block = 0u; block < params.count; block++) { total += x[block * params.cols + col]; }
  if (params.accumulate != 0u) { total += dst[col]; }
  dst[col] = total;
}

// ---------------------------------------------------------------- segmented sums of squares

// chunk_sum_squares: binding 2 is the chunk table, (start, end) element pairs.
@group(0) @binding(2) var<storage, read> chunks: array<vec2<u32>>;

@compute @workgroup_size(256)
fn chunk_sum_squares(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let chunk = grid_workgroup(wid, nwg);
  // Workgroups past the table (2-D grid rounding) still join the barriers with an empty range.
  var range = vec2<u32>(0u, 0u);
  if (chunk < params.count) { range = chunks[chunk]; }
  var sum = 0.0;
  for (var i = range.x + lid.x; i < range.y; i += 256u) {
    let v = x[i];
    sum += v * v;
  }
  let total = workgroup_sum(lid.x, sum);
  if (lid.x == 0u && chunk < params.count) { dst[chunk] = total; }
}

// segment_totals: x = chunk partials; binding 2 (as `firsts`) holds each segment's first chunk, and one
// more entry with the total chunk count.
@group(0) @binding(2) var<storage, read> firsts: array<u32>;

@compute @workgroup_size(256)
fn segment_totals(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let segment = grid_index(wid, nwg, lid.x);
  if (segment >= params.count) { return; }
  var total = 0.0;
  for (var c = firsts[segment]; c < firsts[segment + 1u]; c++) { total += x[c]; }
  dst[segment] = total;
}

// global_total: dst = the per-segment output itself (read and extended in place).
@compute @workgroup_size(256)
fn global_total(@builtin(local_invocation_id) lid: vec3u) {
  var sum = 0.0;
  for (var s = lid.x; s < params.count; s += 256u) { sum += dst[s]; }
  let total = workgroup_sum(lid.x, sum);
  if (lid.x == 0u) {
    dst[params.count] = total;
    dst[params.count + 1u] = sqrt(total);
  }
}
