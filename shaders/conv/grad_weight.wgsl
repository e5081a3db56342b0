// Dense conv grad-weight as a GEMM (hooks of shaders/lib/gemm_core.wgsl, A_RUNS_ALONG_M):
//   dW[(tap, ci), co] = Σ_m im2col(x)[m, (tap, ci)] · (dy × mask)[m, co]
// M = kh·kw·Cin, N = Cout, K = the output pixels of split-K slice z (partials + slice_reduce.wgsl, or
// straight into dW when one slice accumulates).

struct GemmOpState {
  r_count: u32,
  slice: u32,
}

fn gemm_tile(wid: vec3u) -> GemmTile {
  let pixels = p.batch * p.dst_h * p.dst_w;
  let first = wid.z * p.rows_per_slice;
  let last = min(pixels, first + p.rows_per_slice);
  let r_count = p.kernel_h * p.kernel_w * p.src_c;
  return GemmTile(wid.x * TILE_M, wid.y * TILE_N, first, last, true, GemmOpState(r_count, wid.z));
}

// Weight rows r .. r+3 = (tap, ci): their tap is fixed along K (the pixels).
struct GemmRowA {
  r: u32,
  at: TapChannel,
}

fn gemm_row_a(tile: GemmTile, r: u32) -> GemmRowA {
  return GemmRowA(r, tap_channel(r));
}

fn gemm_load_a(tile: GemmTile, row: GemmRowA, m: u32) -> vec4f {
  if (m >= tile.k_end) {
    return vec4f(0.0);
  }
  if (POINTWISE) {
    return lhs_run(m, row.r, p.src_c, tile.op.r_count);
  }
  return load_input4(window_origin(m), row.at, row.r, tile.op.r_count);
}

fn gemm_load_b(tile: GemmTile, m: u32, n: u32) -> vec4f {
  if (m >= tile.k_end) {
    return vec4f(0.0);
  }
  return rhs_run(m, n, p.dst_c, p.dst_c) * pixel_mask(m);
}

fn gemm_store_row(tile: GemmTile, r: u32, tx: u32, acc: vec4f) {
  let accumulate = p.accumulate != 0u;
  let offset = select(tile.op.slice * tile.op.r_count * p.dst_c, 0u, accumulate);
  store_weight_grad_row(r, tile.n0, tx, acc, tile.op.r_count, p.dst_c, offset, accumulate);
}
