// Gathered sparse convolution as implicit GEMM (KERNELS §3.1–3.2).
//
//   gather_gemm:   C[m, n] = bias[n] + Σ_{t<T, j<J} src[map[m, t], j] · B(t, j, n)
//                  forward: src = x [N_in, Cin], map = forward map [N_out, T], B = W[t, j=ci, n=co] (HWIO)
//                  dX:      src = dY [N_out, Cout], map = transposed map [N_in, T], B = W[t, n=ci, j=co]
//                  (B_TRANSPOSED), so dX is gather-only, no scatter and no atomics.
//                  Tiles: 64 rows × 64 columns per 256-thread workgroup, each thread a 4×4 register block,
//                  K = T·J walked in steps of 16 with the gather done by the A-tile loader.
//   weight_grad_partial: P[s, (t, j), n] = Σ_{m in split s} src[map[m, t], j] · dY[m, n]; the extra row
//                  (t, j) = T·J holds Σ dY[m, n] (the bias gradient, a ones-row of A). Split-K over sites
//                  so the reduction is parallel over sites; partials are then summed in a fixed order.
//   grad_reduce:   dW[(t, j), n] += Σ_s P[s, (t, j), n]; dBias[n] += Σ_s P[s, T·J, n] (accumulate: grads).
//   depthwise / depthwise_weight_grad_partial: groups = C through a neighbour map (one thread per row ×
//   channel); shaders/sparse_depthwise.wgsl is the grid-index variant. Both reuse grad_reduce (depth = 1).
// A negative map entry is a missing neighbour (masked or padding): it reads as 0.

struct Params {
  rows: u32,       // M: output rows (or dX rows)
  cols: u32,       // N: output channels of this GEMM
  depth: u32,      // J: channels of the gathered source
  taps: u32,       // T = k·k
  has_bias: u32,
  k_per_split: u32, // weight gradient: sites per split (multiple of 16)
  splits: u32,
  b_transposed: u32,
}

@group(1) @binding(0) var<uniform> params: Params;

// The weight-gradient GEMM carries one extra row (the bias gradient, a ones-row of A) only when there is a
// bias: for a bias-free 3×3 conv with Cin = 64 the 577th row would cost a whole extra tile row.
fn bias_rows() -> u32 {
  return select(0u, 1u, params.has_bias != 0u);
}

const TILE_M: u32 = 64u;
const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;

var<workgroup> tile_a: array<f32, 1024>; // [TILE_K][TILE_M]
var<workgroup> tile_b: array<f32, 1024>; // [TILE_K][TILE_N]

// ---------------------------------------------------------------- forward and dX

@group(0) @binding(0) var<storage, read_write> gg_out: array<f32>;
@group(0) @binding(1) var<storage, read> gg_src: array<f32>;
@group(0) @binding(2) var<storage, read> gg_map: array<i32>;
@group(0) @binding(3) var<storage, read> gg_weight: array<f32>;
@group(0) @binding(4) var<storage, read> gg_bias: array<f32>;

// K index kk = t·J + j is walked as (t, j) and advanced by adding to j and carrying into t, so the loaders
// do no integer division per element (a long instruction sequence on GPUs).
fn carry(tj: vec2u) -> vec2u {
  var r = tj;
  while (r.y >= params.depth) {
    r.y -= params.depth;
    r.x += 1u;
  }
  return r;
}

fn gathered(m: u32, tj: vec2u) -> f32 {
  if (m >= params.rows || tj.x >= params.taps) { return 0.0; }
  let row = gg_map[m * params.taps + tj.x];
  if (row < 0) { return 0.0; }
  return gg_src[u32(row) * params.depth + tj.y];
}

fn weight_at(tj: vec2u, n: u32) -> f32 {
  if (n >= params.cols || tj.x >= params.taps) { return 0.0; }
  if (params.b_transposed == 0u) { return gg_weight[(tj.x * params.depth + tj.y) * params.cols + n]; }
  return gg_weight[(tj.x * params.cols + n) * params.depth + tj.y];
}

@compute @workgroup_size(256)
fn gather_gemm(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n0 = wid.x * TILE_N;
  let m0 = wid.y * TILE_M;
  let tx = lid % 16u;
  let ty = lid / 16u;
  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { acc[i][j] = 0.0; } }
  let k_total = params.taps * params.depth;
  // This thread loads A column ak = lid % 16 (the same for its 4 A elements) and B rows lid / 64 + 4q.
  let ak = lid % TILE_K;
  let bn = lid % TILE_N;
  var tj_a = carry(vec2u(0u, ak));
  var tj_b = carry(vec2u(0u, lid / TILE_N));
  for (var k0 = 0u; k0 < k_total; k0 += TILE_K) {
    for (var q = 0u; q < 4u; q++) {
      // A: 64 rows × 16 k, k fastest across threads (channels of one gathered row are contiguous).
      let ar = lid / TILE_K + q * 16u;
      tile_a[ak * TILE_M + ar] = gathered(m0 + ar, tj_a);
      // B: 16 k × 64 n, n fastest (a weight row is contiguous in HWIO).
      let bk = lid / TILE_N + q * 4u;
      tile_b[bk * TILE_N + bn] = weight_at(carry(tj_b + vec2u(0u, q * 4u)), n0 + bn);
    }
    tj_a = carry(tj_a + vec2u(0u, TILE_K));
    tj_b = carry(tj_b + vec2u(0u, TILE_K));
    workgroupBarrier();
    for (var k = 0u; k < TILE_K; k++) {
      let a = vec4f(tile_a[k * TILE_M + ty * 4u], tile_a[k * TILE_M + ty * 4u + 1u],
                    tile_a[k * TILE_M + ty * 4u + 2u], tile_a[k * TILE_M + ty * 4u + 3u]);
      let b = vec4f(tile_b[k * TILE_N + tx * 4u], tile_b[k * TILE_N + tx * 4u + 1u],
                    tile_b[k * TILE_N + tx * 4u + 2u], tile_b[k * TILE_N + tx * 4u + 3u]);
      for (var i = 0u; i < 4u; i++) {
        acc[i][0] += a[i] * b[0];
        acc[i][1] += a[i] * b[1];
        acc[i][2] += a[i] * b[2];
        acc[i][3] += a[i] * b[3];
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty * 4u + i;
    if (m >= params.rows) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + tx * 4u + j;
      if (n >= params.cols) { continue; }
      var v = acc[i][j];
      if (params.has_bias != 0u) { v += gg_bias[n]; }
      gg_out[m * params.cols + n] = v;
    }
  }
}

// ---------------------------------------------------------------- forward and dX, vec4 loads

// The same GEMM when J and N are multiples of 4: each thread loads one vec4 of A (4 channels of one gathered
// row, always inside one tap because 4 | J) and one vec4 of B per K-step instead of 4 scalars each.
@group(0) @binding(0) var<storage, read_write> gv_out: array<f32>;
@group(0) @binding(1) var<storage, read> gv_src: array<vec4f>;
@group(0) @binding(2) var<storage, read> gv_map: array<i32>;
@group(0) @binding(3) var<storage, read> gv_weight: array<vec4f>;
@group(0) @binding(4) var<storage, read> gv_bias: array<f32>;

@compute @workgroup_size(256)
fn gather_gemm_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n0 = wid.x * TILE_N;
  let m0 = wid.y * TILE_M;
  let tx = lid % 16u;
  let ty = lid / 16u;
  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { acc[i][j] = 0.0; } }
  let k_total = params.taps * params.depth;
  // A: row lid / 4, k quad lid % 4. B (HWIO): k row lid / 16, n quad lid % 16. B transposed (dX): n lid % 64,
  // k quad lid / 64.
  let ar = lid / 4u;
  let a_quad = lid % 4u;
  var tj_a = carry(vec2u(0u, 4u * a_quad));
  var tj_bt = carry(vec2u(0u, 4u * (lid / 64u)));
  for (var k0 = 0u; k0 < k_total; k0 += TILE_K) {
    var a = vec4f(0.0);
    let m = m0 + ar;
    if (m < params.rows && tj_a.x < params.taps) {
      let row = gv_map[m * params.taps + tj_a.x];
      if (row >= 0) { a = gv_src[(u32(row) * params.depth + tj_a.y) / 4u]; }
    }
    for (var i = 0u; i < 4u; i++) { tile_a[(4u * a_quad + i) * TILE_M + ar] = a[i]; }
    if (params.b_transposed == 0u) {
      let bk = lid / 16u;
      let bn = 4u * (lid % 16u);
      var b = vec4f(0.0);
      if (k0 + bk < k_total && n0 + bn < params.cols) { b = gv_weight[((k0 + bk) * params.cols + n0 + bn) / 4u]; }
      for (var i = 0u; i < 4u; i++) { tile_b[bk * TILE_N + bn + i] = b[i]; }
    } else {
      let bn = lid % 64u;
      let b_quad = lid / 64u;
      var b = vec4f(0.0);
      if (tj_bt.x < params.taps && n0 + bn < params.cols) {
        b = gv_weight[((tj_bt.x * params.cols + n0 + bn) * params.depth + tj_bt.y) / 4u];
      }
      for (var i = 0u; i < 4u; i++) { tile_b[(4u * b_quad + i) * TILE_N + bn] = b[i]; }
    }
    tj_a = carry(tj_a + vec2u(0u, TILE_K));
    tj_bt = carry(tj_bt + vec2u(0u, TILE_K));
    workgroupBarrier();
    for (var k = 0u; k < TILE_K; k++) {
      let av = vec4f(tile_a[k * TILE_M + ty * 4u], tile_a[k * TILE_M + ty * 4u + 1u],
                     tile_a[k * TILE_M + ty * 4u + 2u], tile_a[k * TILE_M + ty * 4u + 3u]);
      let bv = vec4f(tile_b[k * TILE_N + tx * 4u], tile_b[k * TILE_N + tx * 4u + 1u],
                     tile_b[k * TILE_N + tx * 4u + 2u], tile_b[k * TILE_N + tx * 4u + 3u]);
      for (var i = 0u; i < 4u; i++) {
        acc[i][0] += av[i] * bv[0];
        acc[i][1] += av[i] * bv[1];
        acc[i][2] += av[i] * bv[2];
        acc[i][3] += av[i] * bv[3];
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty * 4u + i;
    if (m >= params.rows) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + tx * 4u + j;
      if (n >= params.cols) { continue; }
      var v = acc[i][j];
      if (params.has_bias != 0u) { v += gv_bias[n]; }
      gv_out[m * params.cols + n] = v;
    }
  }
}

// ---------------------------------------------------------------- weight gradient (split-K over sites)

@group(0) @binding(0) var<storage, read_write> wg_partials: array<f32>;
@group(0) @binding(1) var<storage, read> wg_src: array<f32>;
@group(0) @binding(2) var<storage, read> wg_map: array<i32>;
@group(0) @binding(3) var<storage, read> wg_dy: array<f32>;

// A^T element: im2col row (t, j) at site m; the row t = T (j = 0) is the ones-row for the bias.
fn im2col_t(tj: vec2u, m: u32) -> f32 {
  if (m >= params.rows) { return 0.0; }
  if (tj.x == params.taps && tj.y == 0u) { return select(0.0, 1.0, params.has_bias != 0u); }
  if (tj.x >= params.taps) { return 0.0; }
  let row = wg_map[m * params.taps + tj.x];
  if (row < 0) { return 0.0; }
  return wg_src[u32(row) * params.depth + tj.y];
}

@compute @workgroup_size(256)
fn weight_grad_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n0 = wid.x * TILE_N;
  let r0 = wid.y * TILE_M; // rows of dW (im2col rows)
  let split = wid.z;
  let tx = lid % 16u;
  let ty = lid / 16u;
  let w_rows = params.taps * params.depth + bias_rows();
  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { acc[i][j] = 0.0; } }
  let s0 = split * params.k_per_split;
  let s1 = min(s0 + params.k_per_split, params.rows);
  // A^T tile: 64 im2col rows × 16 sites; consecutive threads take consecutive im2col rows (channels). This
  // thread's row is the same for its 4 elements and every K-step: decompose it into (t, j) once.
  let ar = lid % TILE_M;
  let a_row = r0 + ar;
  let a_t = a_row / params.depth;
  let tj_a = vec2u(a_t, a_row - a_t * params.depth);
  for (var k0 = s0; k0 < s1; k0 += TILE_K) {
    for (var q = 0u; q < 4u; q++) {
      let e = lid + q * 256u;
      let ak = e / TILE_M;
      var v = 0.0;
      if (k0 + ak < s1) { v = im2col_t(tj_a, k0 + ak); }
      tile_a[ak * TILE_M + ar] = v;
      let bk = e / TILE_N;
      let bn = e % TILE_N;
      let site = k0 + bk;
      var g = 0.0;
      if (site < s1 && n0 + bn < params.cols) { g = wg_dy[site * params.cols + n0 + bn]; }
      tile_b[bk * TILE_N + bn] = g;
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE_K; k++) {
      let a = vec4f(tile_a[k * TILE_M + ty * 4u], tile_a[k * TILE_M + ty * 4u + 1u],
                    tile_a[k * TILE_M + ty * 4u + 2u], tile_a[k * TILE_M + ty * 4u + 3u]);
      let b = vec4f(tile_b[k * TILE_N + tx * 4u], tile_b[k * TILE_N + tx * 4u + 1u],
                    tile_b[k * TILE_N + tx * 4u + 2u], tile_b[k * TILE_N + tx * 4u + 3u]);
      for (var i = 0u; i < 4u; i++) {
        acc[i][0] += a[i] * b[0];
        acc[i][1] += a[i] * b[1];
        acc[i][2] += a[i] * b[2];
        acc[i][3] += a[i] * b[3];
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = r0 + ty * 4u + i;
    if (r >= w_rows) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + tx * 4u + j;
      if (n >= params.cols) { continue; }
      wg_partials[(split * w_rows + r) * params.cols + n] = acc[i][j];
    }
  }
}

// The same partial GEMM with vec4 loads when J and N are multiples of 4: each thread loads 4 channels of one
// gathered site (4 consecutive im2col rows, always one tap) and 4 columns of dY, instead of 8 scalars.
@group(0) @binding(0) var<storage, read_write> wv_partials: array<f32>;
@group(0) @binding(1) var<storage, read> wv_src: array<vec4f>;
@group(0) @binding(2) var<storage, read> wv_map: array<i32>;
@group(0) @binding(3) var<storage, read> wv_dy: array<vec4f>;

@compute @workgroup_size(256)
fn weight_grad_partial_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n0 = wid.x * TILE_N;
  let r0 = wid.y * TILE_M;
  let split = wid.z;
  let tx = lid % 16u;
  let ty = lid / 16u;
  let w_rows = params.taps * params.depth + bias_rows();
  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { acc[i][j] = 0.0; } }
  let s0 = split * params.k_per_split;
  let s1 = min(s0 + params.k_per_split, params.rows);
  // This thread: im2col rows a_row..a_row+3 (one tap, since 4 | J and 4 | r0) and dY columns n0+4·quad.., for
  // site k0 + lid / 16 of each K-step.
  let quad = lid % 16u;
  let a_row = r0 + 4u * quad;
  let a_t = a_row / params.depth;
  let a_j = a_row - a_t * params.depth;
  let site_in_step = lid / 16u;
  for (var k0 = s0; k0 < s1; k0 += TILE_K) {
    let site = k0 + site_in_step;
    var a = vec4f(0.0);
    var g = vec4f(0.0);
    if (site < s1) {
      if (a_t < params.taps) {
        let row = wv_map[site * params.taps + a_t];
        if (row >= 0) { a = wv_src[(u32(row) * params.depth + a_j) / 4u]; }
      } else if (a_t == params.taps && a_j == 0u && params.has_bias != 0u) {
        a = vec4f(1.0, 0.0, 0.0, 0.0);
      }
      if (n0 + 4u * quad < params.cols) { g = wv_dy[(site * params.cols + n0 + 4u * quad) / 4u]; }
    }
    for (var i = 0u; i < 4u; i++) {
      tile_a[site_in_step * TILE_M + 4u * quad + i] = a[i];
      tile_b[site_in_step * TILE_N + 4u * quad + i] = g[i];
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE_K; k++) {
      let av = vec4f(tile_a[k * TILE_M + ty * 4u], tile_a[k * TILE_M + ty * 4u + 1u],
                     tile_a[k * TILE_M + ty * 4u + 2u], tile_a[k * TILE_M + ty * 4u + 3u]);
      let bv = vec4f(tile_b[k * TILE_N + tx * 4u], tile_b[k * TILE_N + tx * 4u + 1u],
                     tile_b[k * TILE_N + tx * 4u + 2u], tile_b[k * TILE_N + tx * 4u + 3u]);
      for (var i = 0u; i < 4u; i++) {
        acc[i][0] += av[i] * bv[0];
        acc[i][1] += av[i] * bv[1];
        acc[i][2] += av[i] * bv[2];
        acc[i][3] += av[i] * bv[3];
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = r0 + ty * 4u + i;
    if (r >= w_rows) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + tx * 4u + j;
      if (n >= params.cols) { continue; }
      wv_partials[(split * w_rows + r) * params.cols + n] = acc[i][j];
    }
  }
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
