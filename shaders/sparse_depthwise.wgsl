// Sparse depthwise convolution (groups = C, ConvNeXt 7×7, stride 1) on compacted rows, reading neighbours
// through the scale's grid index instead of a per-row neighbour map: a 49-entry map would cost 196 B per row,
// about half a C = 96 feature row (KERNELS §3.4), while the grid index costs 4 B per pixel once per scale.
//   depthwise:  out[m, c] = bias[c] + Σ_t src[grid(pos(m) + SIGN·(tap_t − pad)), c] · w[t, c]
//               forward: SIGN = +1, src = x; dX: SIGN = −1, src = dY (the flipped window), no scatter.
//   depthwise_weight_grad_partial: P[s, t, c] = Σ_{m in split s} x[grid(pos(m) + tap_t − pad), c] · dY[m, c];
//               the extra row t = T holds Σ dY (bias).
// The partials are then summed in split order by shaders/slice_reduce.wgsl: dW[t, c] += Σ_s P[s, t, c], and with
// a bias dBias[c] += Σ_s P[s, T, c] (a second reduce over the bias row): no dummy output when there is none.
// Row positions are packed as b << 20 | y << 10 | x (images up to 1024×1024, batches up to 4096).

@group(1) @binding(0) var<uniform> params: SparseDepthwiseParams;  // declared in src/engine/sparseConv.ts

// Index into the grid index of the neighbour of `pos` through tap t, or −1 outside the image.
fn neighbour_cell(pos: u32, t: u32) -> i32 {
  let b = pos >> 20u;
  let y = i32((pos >> 10u) & 1023u);
  let x = i32(pos & 1023u);
  let ky = i32(t / params.kernel) - i32(params.padding);
  let kx = i32(t % params.kernel) - i32(params.padding);
  var ny = y + ky;
  var nx = x + kx;
  if (params.flip != 0u) {
    ny = y - ky;
    nx = x - kx;
  }
  if (ny < 0 || nx < 0 || ny >= i32(params.height) || nx >= i32(params.width)) { return -1; }
  return i32((b * params.height + u32(ny)) * params.width + u32(nx));
}

@group(0) @binding(0) var<storage, read_write> dw_out: array<f32>;
@group(0) @binding(1) var<storage, read> dw_src: array<f32>;
@group(0) @binding(2) var<storage, read> dw_pos: array<u32>;
@group(0) @binding(3) var<storage, read> dw_grid: array<i32>;
@group(0) @binding(4) var<storage, read> dw_weight: array<f32>;
@group(0) @binding(5) var<storage, read> dw_bias: array<f32>;

@compute @workgroup_size(256)
fn depthwise(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid);
  let C = params.channels;
  if (i >= params.rows * C) { return; }
  let m = i / C;
  let c = i - m * C;
  let pos = dw_pos[m];
  var acc = 0.0;
  if (params.has_bias != 0u) { acc = dw_bias[c]; }
  let taps = params.kernel * params.kernel;
  for (var t = 0u; t < taps; t++) {
    let cell = neighbour_cell(pos, t);
    if (cell < 0) { continue; }
    let row = dw_grid[cell];
    if (row >= 0) { acc += dw_src[u32(row) * C + c] * dw_weight[t * C + c]; }
  }
  dw_out[i] = acc;
}

// Rows of the weight-gradient partials: one per tap, plus the bias row only with a bias.
fn weight_rows() -> u32 {
  return params.kernel * params.kernel + select(0u, 1u, params.has_bias != 0u);
}

@group(0) @binding(0) var<storage, read_write> wg_partials: array<f32>;
@group(0) @binding(1) var<storage, read> wg_x: array<f32>;
@group(0) @binding(2) var<storage, read> wg_pos: array<u32>;
@group(0) @binding(3) var<storage, read> wg_grid: array<i32>;
@group(0) @binding(4) var<storage, read> wg_dy: array<f32>;

@compute @workgroup_size(256)
fn depthwise_weight_grad_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let C = params.channels;
  let taps = params.kernel * params.kernel;
  let w_rows = weight_rows();
  let i = wid.x * 256u + lid;
  if (i >= w_rows * C) { return; }
  let t = i / C;
  let c = i - t * C;
  let s0 = wid.y * params.k_per_split;
  let s1 = min(s0 + params.k_per_split, params.rows);
  var acc = 0.0;
  for (var m = s0; m < s1; m++) {
    let g = wg_dy[m * C + c];
    if (t == taps) {
      acc += g;
    } else {
      let cell = neighbour_cell(wg_pos[m], t);
      var row = -1;
      if (cell >= 0) { row = wg_grid[cell]; }
      if (row >= 0) { acc += wg_x[u32(row) * C + c] * g; }
    }
  }
  wg_partials[(wid.y * w_rows + t) * C + c] = acc;
}
