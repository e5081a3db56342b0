// Transposed-conv grad-weight as GEMMs (hooks of shaders/lib/gemm_core.wgsl, A_RUNS_ALONG_M):
//   dW[tap, ci, co] = Σ_i x[i, ci] · dy[b, iy·s − p + ky, ix·s − p + kx, co]
// One [Cin, Cout] GEMM per tap, reduced over the input pixels i of one split-K slice; z = tap · slices + slice.
// Here src = the ConvT input [B, src_h, src_w, Cin] (lhs) and dst = its output [B, dst_h, dst_w, Cout] (dy, rhs).

struct GemmOpState {
  tap: u32,
  slice: u32,
  ky: u32,
  kx: u32,
}

fn gemm_tile(wid: vec3u) -> GemmTile {
  let pixels = p.batch * p.src_h * p.src_w;
  let tap = wid.z / p.slices;
  let slice = wid.z % p.slices;
  let first = slice * p.rows_per_slice;
  let last = min(pixels, first + p.rows_per_slice);
  let state = GemmOpState(tap, slice, tap / p.kernel_w, tap % p.kernel_w);
  return GemmTile(wid.x * TILE_M, wid.y * TILE_N, first, last, true, state);
}

struct GemmRowA {
  r: u32,
}

fn gemm_row_a(tile: GemmTile, r: u32) -> GemmRowA {
  return GemmRowA(r);
}

fn gemm_load_a(tile: GemmTile, row: GemmRowA, m: u32) -> vec4f {
  if (m >= tile.k_end) {
    return vec4f(0.0);
  }
  return lhs_run(m, row.r, p.src_c, p.src_c);
}

fn gemm_load_b(tile: GemmTile, m: u32, n: u32) -> vec4f {
  if (m >= tile.k_end) {
    return vec4f(0.0);
  }
  let ix = m % p.src_w;
  let t = m / p.src_w;
  let oy = i32((t % p.src_h) * p.stride_h + tile.op.ky) - i32(p.pad_h);
  let ox = i32(ix * p.stride_w + tile.op.kx) - i32(p.pad_w);
  if (oy < 0 || oy >= i32(p.dst_h) || ox < 0 || ox >= i32(p.dst_w)) {
    return vec4f(0.0);
  }
  let b = t / p.src_h;
  let pixel = (b * p.dst_h + u32(oy)) * p.dst_w + u32(ox);
  return rhs_run(pixel, n, p.dst_c, p.dst_c) * mask_at(b, u32(oy), u32(ox));
}

fn gemm_store_row(tile: GemmTile, r: u32, tx: u32, acc: vec4f) {
  let accumulate = p.accumulate != 0u;
  let weight_count = p.kernel_h * p.kernel_w * p.src_c * p.dst_c;
  let offset = select(tile.op.slice * weight_count, 0u, accumulate) + tile.op.tap * p.src_c * p.dst_c;
  store_weight_grad_row(r, tile.n0, tx, acc, p.src_c, p.dst_c, offset, accumulate);
}
