// One output phase of a strided "scatter" conv as a GEMM (hooks of shaders/lib/gemm_core.wgsl):
//   out[b,y,x,n] = Σ_{taps of y's phase} src[b, (y+p−ky)/s, (x+p−kx)/s, r]·W(tap, r, n)
// One dispatch layer (z) per output phase (y mod s, x mod s): only the taps with (y+p−ky) ≡ 0 (mod s)
// contribute, so no work is spent on the stride's holes. This is both the grad-input of a strided conv
// (B_RUNS_ALONG_K: W[tap, n=ci, r=co]; src = dy × the forward's mask) and the forward of a transposed conv
// (W[tap, r=ci, n=co], + bias).

struct GemmOpState {
  py: u32,
  px: u32,
  rows_y: u32,
  rows_x: u32,
  m_count: u32,
  taps_x: u32,
  base_y: u32,
  base_x: u32,
  walk: TapWalk,
}

fn gemm_tile(wid: vec3u) -> GemmTile {
  let py = wid.z / p.stride_w;
  let px = wid.z % p.stride_w;
  // Output positions of this phase: y = py + s·iy.
  let rows_y = (p.dst_h - py + p.stride_h - 1u) / p.stride_h;
  let rows_x = (p.dst_w - px + p.stride_w - 1u) / p.stride_w;
  let m_count = p.batch * rows_y * rows_x;
  let m0 = wid.x * TILE_M;
  // Taps with (y + p − ky) ≡ 0 (mod s): ky = ky0 + s·t; the source row is then iy + base_y − t.
  let ky0 = (py + p.pad_h) % p.stride_h;
  let kx0 = (px + p.pad_w) % p.stride_w;
  let taps_y = select(0u, (p.kernel_h - ky0 + p.stride_h - 1u) / p.stride_h, ky0 < p.kernel_h);
  let taps_x = select(0u, (p.kernel_w - kx0 + p.stride_w - 1u) / p.stride_w, kx0 < p.kernel_w);
  let state = GemmOpState(
    py,
    px,
    rows_y,
    rows_x,
    m_count,
    taps_x,
    (py + p.pad_h - ky0) / p.stride_h,
    (px + p.pad_w - kx0) / p.stride_w,
    TapWalk(ky0, kx0, max(taps_x, 1u), p.stride_h, p.stride_w, p.kernel_w),
  );
  let has_work = py < p.dst_h && px < p.dst_w && m0 < m_count;
  return GemmTile(m0, wid.y * TILE_N, 0u, taps_y * taps_x * p.src_c, has_work, state);
}

// Output row m of the phase, as (b, iy, ix) on the phase's own grid (fixed along K).
struct GemmRowA {
  m: u32,
  b: u32,
  iy: u32,
  ix: u32,
}

fn gemm_row_a(tile: GemmTile, m: u32) -> GemmRowA {
  let s = tile.op;
  let t = m / s.rows_x;
  return GemmRowA(m, t / s.rows_y, t % s.rows_y, m % s.rows_x);
}

fn gemm_load_a(tile: GemmTile, row: GemmRowA, k: u32) -> vec4f {
  let s = tile.op;
  var v = vec4f(0.0);
  if (row.m >= s.m_count) {
    return v;
  }
  if (POINTWISE) {
    // One phase, one tap: row m reads dy's pixel m.
    return lhs_run(row.m, k, p.src_c, tile.k_end) * source_pixel_mask(row.m);
  }
  let b = row.b;
  var tap = k / p.src_c;
  var r = k % p.src_c;
  if (VEC_A) {
    if (k < tile.k_end) {
      let sy = i32(row.iy + s.base_y) - i32(tap / s.taps_x);
      let sx = i32(row.ix + s.base_x) - i32(tap % s.taps_x);
      let pixel = source_pixel(b, sy, sx);
      if (pixel >= 0) {
        v = lhs[(u32(pixel) * p.src_c + r) >> 2u] * mask_at(b, u32(sy), u32(sx));
      }
    }
    return v;
  }
  for (var j = 0u; j < 4u; j++) {
    if (k + j < tile.k_end) {
      let sy = i32(row.iy + s.base_y) - i32(tap / s.taps_x);
      let sx = i32(row.ix + s.base_x) - i32(tap % s.taps_x);
      let pixel = source_pixel(b, sy, sx);
      if (pixel >= 0) {
        v[j] = lhs_at(u32(pixel) * p.src_c + r) * mask_at(b, u32(sy), u32(sx));
      }
    }
    r += 1u;
    if (r == p.src_c) {
      r = 0u;
      tap += 1u;
    }
  }
  return v;
}

fn gemm_load_b(tile: GemmTile, k: u32, n: u32) -> vec4f {
  if (POINTWISE && B_RUNS_ALONG_K) {
    // W[0, 0, n, k] read transposed: row n of the plain [Cin, Cout] matrix.
    if (n >= p.dst_c) {
      return vec4f(0.0);
    }
    return rhs_run(n, k, p.src_c, tile.k_end);
  }
  return weight_run(tile.op.walk, k, n, tile.k_end, p.src_c, p.dst_c);
}

fn gemm_store_row(tile: GemmTile, m: u32, tx: u32, acc: vec4f) {
  let s = tile.op;
  if (m >= s.m_count) {
    return;
  }
  if (POINTWISE) {
    store_activation_row(m, tile.n0, tx, acc, p.dst_c, 1.0, p.has_bias != 0u, p.accumulate != 0u);
    return;
  }
  let ix = m % s.rows_x;
  let t = m / s.rows_x;
  let y = s.py + p.stride_h * (t % s.rows_y);
  let x = s.px + p.stride_w * ix;
  let row = ((t / s.rows_y) * p.dst_h + y) * p.dst_w + x;
  store_activation_row(row, tile.n0, tx, acc, p.dst_c, 1.0, p.has_bias != 0u, p.accumulate != 0u);
}
