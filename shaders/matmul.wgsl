// GEMM: out[M,N] (= or +=) alpha · op(a) · op(b) (+ bias[N] broadcast over rows), all row-major f32.
//   op(a) = a [M,K], or with TRANS_A a stored [K,M];   op(b) = b [K,N], or with TRANS_B b stored [N,K].
//
// Tiled kernel (`gemm`, `gemm_bias`): each workgroup computes a BM×BN output tile with WG_X×WG_Y threads,
// each thread a 4×4 register block (rows 4·ty.., columns 4·tx..), so BM = 4·WG_Y and BN = 4·WG_X. The K
// loop stages BK-deep slices of op(a) and op(b) in workgroup memory, both stored k-major as vec4 (As[k][m/4],
// Bs[k][n/4]): the inner loop is then two vec4 loads and four vec4 FMAs per k, with no bounds checks because
// out-of-range elements were staged as zeros.
//
// Inputs are bound as array<vec4<f32>> so that the vec4 load variants (VEC_A / VEC_B, chosen on the host when
// the contiguous dimension of the stored matrix is a multiple of 4) read 16 bytes at a time; the scalar
// variants address single floats of the same arrays. The host binds 16-byte-rounded ranges.
//
// Split-K: workgroup z handles k in [z·k_chunk, min(K, (z+1)·k_chunk)) and writes its partial product to
// out + z·M·N (alpha = 1, no bias, no accumulation); `splitk_reduce` then sums the slices in a fixed order
// (deterministic, no atomics) and applies alpha, bias and accumulation. Without split-K, k_chunk = K, z = 0.
//
// `gemm_naive` is the reference-style kernel (one thread per output, a plain loop over K) kept for the
// benchmark ratio and as a fallback that can be forced from the host.

struct Params {
  m: u32,
  n: u32,
  k: u32,
  k_chunk: u32,
  alpha: f32,
  accumulate: u32,
}

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;
override BK: u32 = 32u;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override VEC_A: bool = false;
override VEC_B: bool = false;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(1) @binding(0) var<uniform> params: Params;

// Staged slices, k-major: (BM + BN)·BK floats, 8 KiB for both shipped configurations (32×32 with BK 32,
// 64×64 with BK 16), so two workgroups fit in the 16 KiB WebGPU guarantees.
var<workgroup> As: array<vec4<f32>, BK * WG_Y>;
var<workgroup> Bs: array<vec4<f32>, BK * WG_X>;

fn a_at(flat: u32) -> f32 {
  return a[flat >> 2u][flat & 3u];
}

fn b_at(flat: u32) -> f32 {
  return b[flat >> 2u][flat & 3u];
}

// op(a)[row, col] with zero outside [0, M) × [0, k_end).
fn load_a(row: u32, col: u32, k_end: u32) -> f32 {
  if (row >= params.m || col >= k_end) { return 0.0; }
  if (TRANS_A) { return a_at(col * params.m + row); }
  return a_at(row * params.k + col);
}

// op(b)[row, col] with zero outside [0, k_end) × [0, N).
fn load_b(row: u32, col: u32, k_end: u32) -> f32 {
  if (row >= k_end || col >= params.n) { return 0.0; }
  if (TRANS_B) { return b_at(col * params.k + row); }
  return b_at(row * params.n + col);
}

fn stage_a(m0: u32, k0: u32, k_end: u32, thread: u32) {
  let bm = 4u * WG_Y;
  let bm4 = WG_Y;
  let threads = WG_X * WG_Y;
  if (VEC_A && !TRANS_A) {
    // a[M,K] with K % 4 == 0: vec4 along k, scattered into the k-major tile.
    let per_row = BK / 4u;
    for (var v = thread; v < bm * per_row; v += threads) {
      let r = v / per_row;
      let kk = (v % per_row) * 4u;
      var value = vec4<f32>(0.0);
      if (m0 + r < params.m && k0 + kk < k_end) { value = a[((m0 + r) * params.k + k0 + kk) >> 2u]; }
      let slot = r >> 2u;
      let lane = r & 3u;
      As[(kk + 0u) * bm4 + slot][lane] = value.x;
      As[(kk + 1u) * bm4 + slot][lane] = value.y;
      As[(kk + 2u) * bm4 + slot][lane] = value.z;
      As[(kk + 3u) * bm4 + slot][lane] = value.w;
    }
  } else if (VEC_A && TRANS_A) {
    // a stored [K,M] with M % 4 == 0: vec4 along m, already k-major.
    for (var v = thread; v < BK * bm4; v += threads) {
      let kk = v / bm4;
      let slot = v % bm4;
      var value = vec4<f32>(0.0);
      if (k0 + kk < k_end && m0 + slot * 4u < params.m) { value = a[((k0 + kk) * params.m + m0 + slot * 4u) >> 2u]; }
      As[kk * bm4 + slot] = value;
    }
  } else if (TRANS_A) {
    // Scalar, consecutive threads along the stored contiguous axis (m) for coalescing.
    for (var e = thread; e < BK * bm; e += threads) {
      let kk = e / bm;
      let r = e % bm;
      As[kk * bm4 + (r >> 2u)][r & 3u] = load_a(m0 + r, k0 + kk, k_end);
    }
  } else {
    for (var e = thread; e < bm * BK; e += threads) {
      let r = e / BK;
      let kk = e % BK;
      As[kk * bm4 + (r >> 2u)][r & 3u] = load_a(m0 + r, k0 + kk, k_end);
    }
  }
}

fn stage_b(n0: u32, k0: u32, k_end: u32, thread: u32) {
  let bn = 4u * WG_X;
  let bn4 = WG_X;
  let threads = WG_X * WG_Y;
  if (VEC_B && !TRANS_B) {
    // b[K,N] with N % 4 == 0: vec4 along n, already k-major.
    for (var v = thread; v < BK * bn4; v += threads) {
      let kk = v / bn4;
      let slot = v % bn4;
      var value = vec4<f32>(0.0);
      if (k0 + kk < k_end && n0 + slot * 4u < params.n) { value = b[((k0 + kk) * params.n + n0 + slot * 4u) >> 2u]; }
      Bs[kk * bn4 + slot] = value;
    }
  } else if (VEC_B && TRANS_B) {
    // b stored [N,K] with K % 4 == 0: vec4 along k, scattered.
    let per_row = BK / 4u;
    for (var v = thread; v < bn * per_row; v += threads) {
      let c = v / per_row;
      let kk = (v % per_row) * 4u;
      var value = vec4<f32>(0.0);
      if (n0 + c < params.n && k0 + kk < k_end) { value = b[((n0 + c) * params.k + k0 + kk) >> 2u]; }
      let slot = c >> 2u;
      let lane = c & 3u;
      Bs[(kk + 0u) * bn4 + slot][lane] = value.x;
      Bs[(kk + 1u) * bn4 + slot][lane] = value.y;
      Bs[(kk + 2u) * bn4 + slot][lane] = value.z;
      Bs[(kk + 3u) * bn4 + slot][lane] = value.w;
    }
  } else if (TRANS_B) {
    for (var e = thread; e < bn * BK; e += threads) {
      let c = e / BK;
      let kk = e % BK;
      Bs[kk * bn4 + (c >> 2u)][c & 3u] = load_b(k0 + kk, n0 + c, k_end);
    }
  } else {
    for (var e = thread; e < BK * bn; e += threads) {
      let kk = e / bn;
      let c = e % bn;
      Bs[kk * bn4 + (c >> 2u)][c & 3u] = load_b(k0 + kk, n0 + c, k_end);
    }
  }
}

struct Block {
  rows: array<vec4<f32>, 4>,
}

// The 4×4 block of alpha-free products owned by this thread, over this workgroup's k range.
fn tile_product(wid: vec3u, lid: vec3u) -> Block {
  let m0 = wid.y * 4u * WG_Y;
  let n0 = wid.x * 4u * WG_X;
  let k_begin = wid.z * params.k_chunk;
  let k_end = min(params.k, k_begin + params.k_chunk);
  let thread = lid.y * WG_X + lid.x;
  var acc = Block();
  for (var k0 = k_begin; k0 < k_end; k0 += BK) {
    stage_a(m0, k0, k_end, thread);
    stage_b(n0, k0, k_end, thread);
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let av = As[kk * WG_Y + lid.y];
      let bv = Bs[kk * WG_X + lid.x];
      acc.rows[0] = fma(vec4<f32>(av.x), bv, acc.rows[0]);
      acc.rows[1] = fma(vec4<f32>(av.y), bv, acc.rows[1]);
      acc.rows[2] = fma(vec4<f32>(av.z), bv, acc.rows[2]);
      acc.rows[3] = fma(vec4<f32>(av.w), bv, acc.rows[3]);
    }
    workgroupBarrier();
  }
  return acc;
}

fn epilogue(index: u32, product: f32, bias_value: f32) {
  var value = params.alpha * product + bias_value;
  if (params.accumulate != 0u) { value += out[index]; }
  out[index] = value;
}

@compute @workgroup_size(WG_X, WG_Y)
fn gemm(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let acc = tile_product(wid, lid);
  let row0 = wid.y * 4u * WG_Y + lid.y * 4u;
  let col0 = wid.x * 4u * WG_X + lid.x * 4u;
  let slice = wid.z * params.m * params.n;
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= params.m) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + j;
      if (col < params.n) { epilogue(slice + row * params.n + col, acc.rows[i][j], 0.0); }
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y)
fn gemm_bias(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let acc = tile_product(wid, lid);
  let row0 = wid.y * 4u * WG_Y + lid.y * 4u;
  let col0 = wid.x * 4u * WG_X + lid.x * 4u;
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= params.m) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + j;
      if (col < params.n) { epilogue(row * params.n + col, acc.rows[i][j], bias[col]); }
    }
  }
}

// ---------------------------------------------------------------- naive reference kernel

fn naive_product(row: u32, col: u32) -> f32 {
  var sum = 0.0;
  for (var k = 0u; k < params.k; k++) {
    sum = fma(load_a(row, k, params.k), load_b(k, col, params.k), sum);
  }
  return sum;
}

@compute @workgroup_size(16, 16)
fn gemm_naive(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.y >= params.m || gid.x >= params.n) { return; }
  epilogue(gid.y * params.n + gid.x, naive_product(gid.y, gid.x), 0.0);
}

@compute @workgroup_size(16, 16)
fn gemm_naive_bias(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.y >= params.m || gid.x >= params.n) { return; }
  epilogue(gid.y * params.n + gid.x, naive_product(gid.y, gid.x), bias[gid.x]);
}

// ---------------------------------------------------------------- split-K reduction

struct ReduceParams {
  mn: u32,
  n: u32,
  slices: u32,
  alpha: f32,
  accumulate: u32,
}

// Bindings of the reduction entry points (no entry point uses these together with a, b and bias above).
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read> reduce_bias: array<f32>;
@group(1) @binding(0) var<uniform> reduce_params: ReduceParams;

fn slice_sum(i: u32) -> f32 {
  var sum = 0.0;
  for (var s = 0u; s < reduce_params.slices; s++) { sum += partials[s * reduce_params.mn + i]; }
  return sum;
}

fn reduce_store(i: u32, bias_value: f32) {
  var value = reduce_params.alpha * slice_sum(i) + bias_value;
  if (reduce_params.accumulate != 0u) { value += out[i]; }
  out[i] = value;
}

@compute @workgroup_size(256)
fn splitk_reduce(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid.x;
  if (i < reduce_params.mn) { reduce_store(i, 0.0); }
}

@compute @workgroup_size(256)
fn splitk_reduce_bias(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid.x;
  if (i < reduce_params.mn) { reduce_store(i, reduce_bias[i % reduce_params.n]); }
}
