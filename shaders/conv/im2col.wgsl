// The dense conv GEMMs' A-operand loaders (implicit im2col over NHWC, K ordered (tap, ci)) and output mask.

// All taps of the kernel, row by row (the forward and grad-weight K order).
fn all_taps() -> TapWalk {
  return TapWalk(0u, 0u, p.kernel_w, 1u, 1u, p.kernel_w);
}

// im2col element of the forward / grad-weight GEMMs: x[b, oy·s − p + ky, ox·s − p + kx, ci], 0 in the padding.
fn input_index(b: u32, oy: u32, ox: u32, tap: u32) -> i32 {
  let iy = i32(oy * p.stride_h + tap / p.kernel_w) - i32(p.pad_h);
  let ix = i32(ox * p.stride_w + tap % p.kernel_w) - i32(p.pad_w);
  return source_pixel(b, iy, ix);
}

fn load_input(b: u32, oy: u32, ox: u32, tap: u32, ci: u32) -> f32 {
  let pixel = input_index(b, oy, ox, tap);
  if (pixel < 0) {
    return 0.0;
  }
  return lhs_at(u32(pixel) * p.src_c + ci);
}

// Four consecutive im2col entries k .. k+3 ((tap, ci) in K order) of output pixel m = (b, oy, ox); 0 past
// k_count. With VEC_A (src_c % 4 == 0) they are one aligned vec4 within one tap.
fn load_input4(m: u32, k: u32, k_count: u32) -> vec4f {
  let ox = m % p.dst_w;
  let t = m / p.dst_w;
  let oy = t % p.dst_h;
  let b = t / p.dst_h;
  var tap = k / p.src_c;
  var ci = k % p.src_c;
  if (VEC_A) {
    let pixel = input_index(b, oy, ox, tap);
    if (k >= k_count || pixel < 0) {
      return vec4f(0.0);
    }
    return lhs[(u32(pixel) * p.src_c + ci) >> 2u];
  }
  var v = vec4f(0.0);
  for (var j = 0u; j < 4u; j++) {
    if (k + j < k_count) {
      v[j] = load_input(b, oy, ox, tap, ci);
    }
    ci += 1u;
    if (ci == p.src_c) {
      ci = 0u;
      tap += 1u;
    }
  }
  return v;
}

// The mask factor of output pixel m (flat over batch × dst_h × dst_w).
fn pixel_mask(m: u32) -> f32 {
  let t = m / p.dst_w;
  return mask_at(t / p.dst_h, t % p.dst_h, m % p.dst_w);
}
