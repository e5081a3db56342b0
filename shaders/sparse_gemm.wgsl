// Gathered sparse convolution (KERNELS §3.1–3.2) as the dense conv's implicit GEMM with a neighbour-map A
// loader. Compiled appended to shaders/conv2d.wgsl (WGSL has no includes), so it runs on the very same tiles
// (TILE_M / TILE_N overrides chosen by conv2d.ts's chooseTile), B loader (load_weight_tile), register-blocked
// product (mac_tile), split-K slicing and epilogue: per useful FLOP a sparse conv costs what a dense one does.
//
//   sparse_gemm         C[m, n] = bias[n] + Σ_{t<T, j<J} src[map[m, t], j] · B(t, j, n)
//                       forward: src = x [N_in, Cin], map = forward map [N_out, T], B = W[t, ci, co] (HWIO)
//                       dX:      src = dY [N_out, Cout], map = transposed map [N_in, T], B read transposed
//                       (WEIGHT_T: W[t, n = ci, j = co]), so dX is gather-only: no scatter, no atomics.
//   sparse_grad_weight  dW[(t, j), n] (+)= Σ_{m in slice z} src[map[m, t], j] · dY[m, n], split-K over sites.
//
// ConvParams as these entry points read it: batch = M (GEMM rows; for the weight gradient, the sites summed
// over), src_c = J (channels of the gathered source), dst_c = N, kernel_h = T taps with kernel_w = 1 (so a K
// index (t, j) walks tap t directly), rows_per_slice / slices / has_bias / accumulate as for the dense conv.
// Binding 2, where the dense conv has its cell mask, holds the neighbour map [M, T] as i32 bit patterns; a
// negative entry is a missing neighbour (masked or padding) and reads as 0.

fn neighbour(m: u32, tap: u32) -> i32 {
  return bitcast<i32>(mask[m * p.kernel_h + tap]);
}

// Four consecutive K entries (tap, ci .. ci+3) of gathered row m. The map is read once per run of 4 (again
// only where the run crosses into the next tap, which VEC_A rules out), not once per element.
fn gather4(m: u32, k: u32, k_count: u32) -> vec4f {
  var tap = k / p.src_c;
  var ci = k - tap * p.src_c;
  var row = neighbour(m, tap);
  if (VEC_A) {
    if (row < 0) {
      return vec4f(0.0);
    }
    return lhs[(u32(row) * p.src_c + ci) >> 2u];
  }
  var v = vec4f(0.0);
  for (var j = 0u; j < 4u; j++) {
    if (k + j >= k_count) {
      break;
    }
    if (row >= 0) {
      v[j] = lhs_at(u32(row) * p.src_c + ci);
    }
    ci += 1u;
    if (ci == p.src_c && k + j + 1u < k_count) {
      ci = 0u;
      tap += 1u;
      row = neighbour(m, tap);
    }
  }
  return v;
}

@compute @workgroup_size(WG_N, WG_M)
fn sparse_gemm(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid3: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let m_count = p.batch;
  let k_count = p.kernel_h * p.src_c;
  let m0 = wid.x * TILE_M;
  let n0 = wid.y * TILE_N;
  let walk = TapWalk(0u, 0u, 1u, 1u, 1u);
  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < k_count; k0 += BK) {
    // A tile: 4 consecutive (tap, ci) of one gathered row per thread-iteration.
    for (var e = lid; e < TILE_A / 4u; e += THREADS) {
      let row = e / (BK / 4u);
      let kq = (e % (BK / 4u)) * 4u;
      let m = m0 + row;
      var v = vec4f(0.0);
      if (m < m_count && k0 + kq < k_count) {
        v = gather4(m, k0 + kq, k_count);
      }
      for (var j = 0u; j < 4u; j++) {
        tile_a[(kq + j) * TILE_M + row] = v[j];
      }
    }
    load_weight_tile(walk, k0, n0, k_count, p.src_c, p.dst_c, lid);
    workgroupBarrier();
    mac_tile(lid3.x, lid3.y, &acc);
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let m = m0 + lid3.y + i * WG_M;
    if (m < m_count) {
      store_output_row(m, n0, lid3.x, acc[i], 1.0);
    }
  }
}

// Result rows (tap, ci) × columns co; reduction over the sites of slice z. lhs = x, rhs = dY [sites, N].
@compute @workgroup_size(WG_N, WG_M)
fn sparse_grad_weight(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid3: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let r_count = p.kernel_h * p.src_c;
  let first = wid.z * p.rows_per_slice;
  let last = min(p.batch, first + p.rows_per_slice);
  let r0 = wid.x * TILE_M;
  let n0 = wid.y * TILE_N;
  var acc: array<vec4f, 4>;
  for (var k0 = first; k0 < last; k0 += BK) {
    for (var e = lid; e < TILE_A / 4u; e += THREADS) {
      let kk = e / (TILE_M / 4u);
      let rq = (e % (TILE_M / 4u)) * 4u;
      let m = k0 + kk;
      var v = vec4f(0.0);
      if (m < last && r0 + rq < r_count) {
        v = gather4(m, r0 + rq, r_count);
      }
      for (var j = 0u; j < 4u; j++) {
        tile_a[kk * TILE_M + rq + j] = v[j];
      }
    }
    // dY rows (dst_h = dst_w = 1 and no mask: the mask factor is 1).
    load_dy_tile(k0, last, n0, lid);
    workgroupBarrier();
    mac_tile(lid3.x, lid3.y, &acc);
    workgroupBarrier();
  }
  store_weight_grad_tile(r0, n0, wid.z, r_count, lid3, &acc);
}
