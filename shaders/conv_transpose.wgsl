// Transposed-convolution weight gradient. Compiled appended to shaders/conv2d.wgsl, whose bindings, uniforms,
// shared tiles and mac_tile() it uses (WGSL has no includes).
//
//   convt_grad_weight  dW[tap, ci, co] = Σ_i x[i, ci] · dy[b, iy·s − p + ky, ix·s − p + kx, co]
// One [Cin, Cout] GEMM per tap, reduced over the input pixels i of slice `slice`; z = tap · slices + slice.
// (The forward and grad-input of the transposed conv are conv2d.wgsl's conv_phase and conv_forward.)

// lhs = the ConvT input [B, src_h, src_w, Cin], rhs = dy of the ConvT output [B, dst_h, dst_w, Cout].
@compute @workgroup_size(WG_N, WG_M)
fn convt_grad_weight(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid3: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let pixels = p.batch * p.src_h * p.src_w;
  let tap = wid.z / p.slices;
  let slice = wid.z % p.slices;
  let ky = tap / p.kernel_w;
  let kx = tap % p.kernel_w;
  let first = slice * p.rows_per_slice;
  let last = min(pixels, first + p.rows_per_slice);
  let r0 = wid.x * TILE_M;
  let n0 = wid.y * TILE_N;
  var acc: array<vec4f, 4>;
  for (var k0 = first; k0 < last; k0 += BK) {
    for (var e = lid; e < TILE_A / 4u; e += THREADS) {
      let kk = e / (TILE_M / 4u);
      let rq = (e % (TILE_M / 4u)) * 4u;
      let m = k0 + kk;
      var v = vec4f(0.0);
      if (m < last) {
        if (VEC_A) {
          if (r0 + rq < p.src_c) {
            v = lhs[(m * p.src_c + r0 + rq) >> 2u];
          }
        } else {
          for (var j = 0u; j < 4u; j++) {
            if (r0 + rq + j < p.src_c) {
              v[j] = lhs_at(m * p.src_c + r0 + rq + j);
            }
          }
        }
      }
      for (var j = 0u; j < 4u; j++) {
        tile_a[kk * TILE_M + rq + j] = v[j];
      }
    }
    for (var e = lid; e < TILE_B / 4u; e += THREADS) {
      let kk = e / (TILE_N / 4u);
      let nq = (e % (TILE_N / 4u)) * 4u;
      let m = k0 + kk;
      var v = vec4f(0.0);
      if (m < last) {
        let ix = m % p.src_w;
        let t = m / p.src_w;
        let oy = i32((t % p.src_h) * p.stride_h + ky) - i32(p.pad_h);
        let ox = i32(ix * p.stride_w + kx) - i32(p.pad_w);
        if (oy >= 0 && oy < i32(p.dst_h) && ox >= 0 && ox < i32(p.dst_w)) {
          let base = (((t / p.src_h) * p.dst_h + u32(oy)) * p.dst_w + u32(ox)) * p.dst_c;
          let scale = mask_at(t / p.src_h, u32(oy), u32(ox));
          if (VEC_B) {
            if (n0 + nq < p.dst_c) {
              v = rhs[(base + n0 + nq) >> 2u] * scale;
            }
          } else {
            for (var j = 0u; j < 4u; j++) {
              if (n0 + nq + j < p.dst_c) {
                v[j] = rhs_at(base + n0 + nq + j) * scale;
              }
            }
          }
        }
      }
      for (var j = 0u; j < 4u; j++) {
        tile_b[kk * TILE_N + nq + j] = v[j];
      }
    }
    workgroupBarrier();
    mac_tile(lid3.x, lid3.y, &acc);
    workgroupBarrier();
  }
  let weight_count = p.kernel_h * p.kernel_w * p.src_c * p.dst_c;
  let slice_offset = select(slice * weight_count, 0u, p.accumulate != 0u);
  for (var i = 0u; i < TM; i++) {
    let r = r0 + lid3.y + i * WG_M;
    for (var j = 0u; j < TN; j++) {
      let n = n0 + lid3.x + j * WG_N;
      if (r < p.src_c && n < p.dst_c) {
        write_result(slice_offset + (tap * p.src_c + r) * p.dst_c + n, acc[i][j]);
      }
    }
  }
}
