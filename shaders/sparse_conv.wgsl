// Depthwise (groups = C) sparse convolution through neighbour maps, and the fixed-order reduction of its
// weight-gradient partials (KERNELS §3). The dense-channel gathered GEMMs live in shaders/sparse_gemm.wgsl.
//
//   depthwise:     out[m, c] = bias[c] + Σ_t src[map[m, t], c] · w[t, c] (forward, or dX via the transposed map)
//   depthwise_weight_grad_partial: P[s, t, c] = Σ_{m in split s} src[map[m, t], c] · dY[m, c]; the extra row
//                  t = T holds Σ dY (the bias gradient) when there is a bias.
//   grad_reduce:   dW[t, c] += Σ_s P[s, t, c]; dBias[c] += Σ_s P[s, T, c] (accumulate: grads). Also used by
//                  shaders/sparse_depthwise.wgsl's grid-index variant.
// A negative map entry is a missing neighbour (masked or padding): it reads as 0.

struct Params {
  rows: u32,       // rows of the output (or dX)
  cols: u32,       // channels
  depth: u32,      // always 1 here (weight rows per tap)
  taps: u32,       // T = k·k
  has_bias: u32,
  k_per_split: u32, // weight gradient: sites per split (multiple of 16)
  splits: u32,
  b_transposed: u32,
}

@group(1) @binding(0) var<uniform> params: Params;

// The partials carry one extra row (the bias gradient) only when there is a bias.
fn bias_rows() -> u32 {
  return select(0u, 1u, params.has_bias != 0u);
}

// ---------------------------------------------------------------- fixed-order reduction of the partials

@group(0) @binding(0) var<storage, read_write> rd_dweight: array<f32>;
@group(0) @binding(1) var<storage, read_write> rd_dbias: array<f32>;
@group(0) @binding(2) var<storage, read> rd_partials: array<f32>;

// rows of the partials = depth·taps weight rows (+ 1 bias row when has_bias), each `cols` wide.
@compute @workgroup_size(256)
fn grad_reduce(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  let w_rows = params.taps * params.depth + bias_rows();
  let total = w_rows * params.cols;
  if (i >= total) { return; }
  var sum = 0.0;
  for (var s = 0u; s < params.splits; s++) { sum += rd_partials[s * total + i]; }
  let weight_len = params.taps * params.depth * params.cols;
  if (i < weight_len) {
    rd_dweight[i] += sum;
  } else {
    rd_dbias[i - weight_len] += sum;
  }
}

// ---------------------------------------------------------------- depthwise (groups = C) through neighbour maps
// The map-based variant, for callers that hold a map; sparse_depthwise.wgsl walks the grid index instead and
// needs no 49-wide map.

@group(0) @binding(0) var<storage, read_write> dw_out: array<f32>;
@group(0) @binding(1) var<storage, read> dw_src: array<f32>;
@group(0) @binding(2) var<storage, read> dw_map: array<i32>;
@group(0) @binding(3) var<storage, read> dw_weight: array<f32>;
@group(0) @binding(4) var<storage, read> dw_bias: array<f32>;

// out[m, c] = bias[c] + Σ_t src[map[m, t], c] · w[t, c]. Forward with the forward map; dX with the
// transposed map and dY as src (tap t pairs with the same weight tap either way). One thread per
// (row, channel): channels are fastest, so a warp reads a neighbour row contiguously.
@compute @workgroup_size(256)
fn depthwise(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  let channels = params.cols;
  if (i >= params.rows * channels) { return; }
  let m = i / channels;
  let c = i - m * channels;
  var acc = 0.0;
  if (params.has_bias != 0u) { acc = dw_bias[c]; }
  for (var t = 0u; t < params.taps; t++) {
    let row = dw_map[m * params.taps + t];
    if (row >= 0) { acc += dw_src[u32(row) * channels + c] * dw_weight[t * channels + c]; }
  }
  dw_out[i] = acc;
}

@group(0) @binding(0) var<storage, read_write> dg_partials: array<f32>;
@group(0) @binding(1) var<storage, read> dg_src: array<f32>;
@group(0) @binding(2) var<storage, read> dg_map: array<i32>;
@group(0) @binding(3) var<storage, read> dg_dy: array<f32>;

// P[s, t, c] = Σ_{m in split s} src[map[m, t], c] · dY[m, c]; row t = T is Σ dY (bias). One thread per
// (tap or bias row, channel) per split; the split axis is wid.y.
@compute @workgroup_size(256)
fn depthwise_weight_grad_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let channels = params.cols;
  let w_rows = params.taps + bias_rows();
  let i = wid.x * 256u + lid;
  if (i >= w_rows * channels) { return; }
  let t = i / channels;
  let c = i - t * channels;
  let split = wid.y;
  let s0 = split * params.k_per_split;
  let s1 = min(s0 + params.k_per_split, params.rows);
  var acc = 0.0;
  for (var m = s0; m < s1; m++) {
    let g = dg_dy[m * channels + c];
    if (t == params.taps) {
      acc += g;
    } else {
      let row = dg_map[m * params.taps + t];
      if (row >= 0) { acc += dg_src[u32(row) * channels + c] * g; }
    }
  }
  dg_partials[(split * w_rows + t) * channels + c] = acc;
}
