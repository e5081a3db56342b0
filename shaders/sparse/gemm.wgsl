// Gathered sparse conv as a GEMM (hooks of shaders/lib/gemm_core.wgsl):
//   C[m, n] = bias[n] + Σ_{t < taps, j < depth} src[map[m, t], j] · B(t, j, n)
//   forward: src = x [N_in, Cin], map = the forward map [N_out, taps], B = W[t, ci, co] (HWIO)
//   dX:      src = dY [N_out, Cout], map = the transposed map [N_in, taps], B read transposed
//            (B_RUNS_ALONG_K: W[t, n = ci, j = co]), so dX is gather-only: no scatter, no atomics.

struct GemmOpState {
  k_count: u32,
}

fn gemm_tile(wid: vec3u) -> GemmTile {
  let k_count = p.taps * p.depth;
  return GemmTile(wid.x * TILE_M, wid.y * TILE_N, 0u, k_count, true, GemmOpState(k_count));
}

struct GemmRowA {
  m: u32,
}

fn gemm_row_a(tile: GemmTile, m: u32) -> GemmRowA {
  return GemmRowA(m);
}

fn gemm_load_a(tile: GemmTile, row: GemmRowA, k: u32) -> vec4f {
  if (row.m >= p.rows || k >= tile.k_end) {
    return vec4f(0.0);
  }
  return gather4(row.m, k, tile.k_end);
}

fn gemm_load_b(tile: GemmTile, k: u32, n: u32) -> vec4f {
  return weight_run(map_taps(), k, n, tile.k_end, p.depth, p.cols);
}

fn gemm_store_row(tile: GemmTile, m: u32, tx: u32, acc: vec4f) {
  if (m < p.rows) {
    store_activation_row(m, tile.n0, tx, acc, p.cols, 1.0, p.has_bias != 0u, p.accumulate != 0u);
  }
}
