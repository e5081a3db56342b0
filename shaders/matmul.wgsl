// Plain row-major matrix product as a GEMM (hooks of shaders/lib/gemm_core.wgsl): the plain-rows loader.
//   out[M, N] (= or +=) alpha · op(a) · op(b) (+ bias[N] broadcast over rows)
//   op(a) = a [M, K], or with A_RUNS_ALONG_M a stored [K, M];  op(b) = b [K, N], or with B_RUNS_ALONG_K b stored
//   [N, K]. Each run of 4 is read along the stored matrix's contiguous axis.
// Split-K: workgroup z handles k in [z·k_chunk, min(K, (z+1)·k_chunk)) and writes its partial product to
// out + z·M·N (alpha 1, no bias, no accumulation); shaders/slice_reduce.wgsl then sums the slices in order.
// MatmulParams is declared in src/engine/matmul.ts. The last step of the epilogue, store_matmul_result, comes
// from the store file composed with it: shaders/matmul_store.wgsl (= or +=), or shaders/matmul_layer_scale.wgsl
// (× γ per column, keeping the value before γ for its backward).

// Storage bindings out, lhs, rhs, bias (+ scale, pre_scale): declared by MatmulLayout or MatmulLayerScaleLayout
// (src/engine/matmul.ts).
@group(1) @binding(0) var<uniform> p: MatmulParams;

struct GemmOpState {
  slice_offset: u32,
}

fn gemm_tile(wid: vec3u) -> GemmTile {
  let k_begin = wid.z * p.k_chunk;
  let k_end = min(p.k, k_begin + p.k_chunk);
  return GemmTile(wid.x * TILE_M, wid.y * TILE_N, k_begin, k_end, true, GemmOpState(wid.z * p.m * p.n));
}

struct GemmRowA {
  m: u32,
}

fn gemm_row_a(tile: GemmTile, m: u32) -> GemmRowA {
  return GemmRowA(m);
}

fn gemm_load_a(tile: GemmTile, row: GemmRowA, k: u32) -> vec4f {
  let m = row.m;
  if (A_RUNS_ALONG_M) {
    if (k >= tile.k_end) {
      return vec4f(0.0);
    }
    return lhs_run(k, m, p.m, p.m);
  }
  if (m >= p.m) {
    return vec4f(0.0);
  }
  return lhs_run(m, k, p.k, tile.k_end);
}

fn gemm_load_b(tile: GemmTile, k: u32, n: u32) -> vec4f {
  if (B_RUNS_ALONG_K) {
    if (n >= p.n) {
      return vec4f(0.0);
    }
    return rhs_run(n, k, p.k, tile.k_end);
  }
  if (k >= tile.k_end) {
    return vec4f(0.0);
  }
  return rhs_run(k, n, p.n, p.n);
}

fn gemm_store_row(tile: GemmTile, m: u32, tx: u32, acc: vec4f) {
  if (m >= p.m) {
    return;
  }
  for (var j = 0u; j < TN; j++) {
    let n = tile.n0 + tx + j * WG_N;
    if (n < p.n) {
      var value = p.alpha * acc[j];
      if (p.has_bias != 0u) {
        value += bias[n];
      }
      store_matmul_result(tile.op.slice_offset + m * p.n + n, n, value);
    }
  }
}
