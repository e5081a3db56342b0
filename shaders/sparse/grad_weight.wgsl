// Gathered sparse conv grad-weight as a GEMM (hooks of shaders/lib/gemm_core.wgsl, A_RUNS_ALONG_M):
//   dW[(t, j), n] (+)= Σ_{m in slice z} x[map[m, t], j] · dY[m, n]
// M = taps · depth, N = cols, K = the sites of split-K slice z; lhs = x, rhs = dY [rows, cols].

struct GemmOpState {
  r_count: u32,
  slice: u32,
}

fn gemm_tile(wid: vec3u) -> GemmTile {
  let first = wid.z * p.rows_per_slice;
  let last = min(p.rows, first + p.rows_per_slice);
  return GemmTile(wid.x * TILE_M, wid.y * TILE_N, first, last, true, GemmOpState(p.taps * p.depth, wid.z));
}

// Weight rows r .. r+3 = (tap, channel): fixed along K (the sites).
struct GemmRowA {
  r: u32,
  tap: u32,
  ci: u32,
}

fn gemm_row_a(tile: GemmTile, r: u32) -> GemmRowA {
  let tap = r / p.depth;
  return GemmRowA(r, tap, r - tap * p.depth);
}

fn gemm_load_a(tile: GemmTile, row: GemmRowA, m: u32) -> vec4f {
  if (m >= tile.k_end || row.r >= tile.op.r_count) {
    return vec4f(0.0);
  }
  return gather4_at(m, row.r, row.tap, row.ci, tile.op.r_count);
}

fn gemm_load_b(tile: GemmTile, m: u32, n: u32) -> vec4f {
  if (m >= tile.k_end) {
    return vec4f(0.0);
  }
  return rhs_run(m, n, p.cols, p.cols);
}

fn gemm_store_row(tile: GemmTile, r: u32, tx: u32, acc: vec4f) {
  let accumulate = p.accumulate != 0u;
  let offset = select(tile.op.slice * tile.op.r_count * p.cols, 0u, accumulate);
  store_weight_grad_row(r, tile.n0, tx, acc, tile.op.r_count, p.cols, offset, accumulate);
}
