// Dense conv forward as a GEMM (hooks of shaders/lib/gemm_core.wgsl):
//   y[b,oy,ox,co] = Σ_{ky,kx,ci} x[b, oy·s−p+ky, ox·s−p+kx, ci]·W[ky,kx,ci,co]  (+bias, ×mask)
//   M = B·Ho·Wo, N = Cout, K = kh·kw·Cin (ordered (tap, ci) so a K run is contiguous).
// With B_RUNS_ALONG_K the weight is read transposed, W[tap, n, r]: the transposed conv's grad-input, an
// ordinary strided conv of dy.

struct GemmOpState {
  m_count: u32,
}

fn gemm_tile(wid: vec3u) -> GemmTile {
  let k_count = p.kernel_h * p.kernel_w * p.src_c;
  return GemmTile(wid.x * TILE_M, wid.y * TILE_N, 0u, k_count, true, GemmOpState(p.batch * p.dst_h * p.dst_w));
}

struct GemmRowA {
  m: u32,
  origin: WindowOrigin,
}

fn gemm_row_a(tile: GemmTile, m: u32) -> GemmRowA {
  return GemmRowA(m, window_origin(m));
}

fn gemm_load_a(tile: GemmTile, row: GemmRowA, k: u32) -> vec4f {
  if (row.m >= tile.op.m_count) {
    return vec4f(0.0);
  }
  if (POINTWISE) {
    // The output pixel's own input pixel: a plain row.
    return lhs_run(row.m, k, p.src_c, tile.k_end);
  }
  return load_input4(row.origin, tap_channel(k), k, tile.k_end);
}

fn gemm_load_b(tile: GemmTile, k: u32, n: u32) -> vec4f {
  if (POINTWISE && !B_RUNS_ALONG_K) {
    // W[0, 0, k, n]: the weight is a plain [Cin, Cout] matrix.
    if (k >= tile.k_end) {
      return vec4f(0.0);
    }
    return rhs_run(k, n, p.dst_c, p.dst_c);
  }
  return weight_run(all_taps(), k, n, tile.k_end, p.src_c, p.dst_c);
}

fn gemm_store_row(tile: GemmTile, m: u32, tx: u32, acc: vec4f) {
  if (m < tile.op.m_count) {
    store_activation_row(m, tile.n0, tx, acc, p.dst_c, pixel_mask(m), p.has_bias != 0u, p.accumulate != 0u);
  }
}
