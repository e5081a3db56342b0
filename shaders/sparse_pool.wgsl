// Sparse max-pool (3×3/s2/p1 in ResNet) on compacted rows. The forward map gives each output row's input rows
// per tap: ≥ 0 a row, −1 a masked neighbour (reads as 0 and takes part in the max, as in the official dense
// max over zero-filled input), −2 padding (left out, as PyTorch pads with −∞). The winning tap is kept per
// (row, channel): the first maximum in tap order, PyTorch's tie rule.
// Backward is gather-only: input row i, channel c sums dy[o, c] over the taps t whose output o = tmap[i, t]
// picked tap t.

@group(1) @binding(0) var<uniform> params: SparsePoolParams;  // declared in src/engine/sparsePool.ts

@group(0) @binding(0) var<storage, read_write> fw_y: array<f32>;
@group(0) @binding(1) var<storage, read_write> fw_argmax: array<u32>;
@group(0) @binding(2) var<storage, read> fw_x: array<f32>;
@group(0) @binding(3) var<storage, read> fw_map: array<i32>;

@compute @workgroup_size(256)
fn maxpool_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid);
  if (i >= params.rows * params.channels) { return; }
  let o = i / params.channels;
  let c = i - o * params.channels;
  var best = 0.0; // replaced by the first non-padding tap (every window has one)
  var best_tap = 0u;
  var found = false;
  for (var t = 0u; t < params.taps; t++) {
    let row = fw_map[o * params.taps + t];
    if (row == -2) { continue; }
    var v = 0.0;
    if (row >= 0) { v = fw_x[u32(row) * params.channels + c]; }
    if (!found || v > best) {
      best = v;
      best_tap = t;
      found = true;
    }
  }
  fw_y[i] = best;
  fw_argmax[i] = best_tap;
}

@group(0) @binding(0) var<storage, read_write> bw_dx: array<f32>;
@group(0) @binding(1) var<storage, read> bw_dy: array<f32>;
@group(0) @binding(2) var<storage, read> bw_argmax: array<u32>;
@group(0) @binding(3) var<storage, read> bw_tmap: array<i32>;

// rows = input rows here.
@compute @workgroup_size(256)
fn maxpool_backward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid);
  if (i >= params.rows * params.channels) { return; }
  let r = i / params.channels;
  let c = i - r * params.channels;
  var acc = 0.0;
  for (var t = 0u; t < params.taps; t++) {
    let o = bw_tmap[r * params.taps + t];
    if (o >= 0) {
      let j = u32(o) * params.channels + c;
      if (bw_argmax[j] == t) { acc += bw_dy[j]; }
    }
  }
  bw_dx[i] = acc;
}
