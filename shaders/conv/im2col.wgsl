// The dense conv GEMMs' A-operand loaders (implicit im2col over NHWC, K ordered (tap, ci)) and output mask.
// A GEMM row's decomposition (its pixel's window origin, or its tap) is made once per staged run
// (gemm_row_a, before the K loop); the loaders then walk K without dividing by the row sizes again.

// All taps of the kernel, row by row (the forward and grad-weight K order).
fn all_taps() -> TapWalk {
  return TapWalk(0u, 0u, p.kernel_w, 1u, 1u, p.kernel_w);
}

// Where output pixel m = (b, oy, ox) of the destination map puts its window in the source: the source
// position of tap (0, 0), (oy·s − p, ox·s − p).
struct WindowOrigin {
  b: u32,
  y: i32,
  x: i32,
}

fn window_origin(m: u32) -> WindowOrigin {
  let ox = m % p.dst_w;
  let t = m / p.dst_w;
  let oy = t % p.dst_h;
  let y = i32(oy * p.stride_h) - i32(p.pad_h);
  let x = i32(ox * p.stride_w) - i32(p.pad_w);
  return WindowOrigin(t / p.dst_h, y, x);
}

// K index k = (tap, ci) of the forward / grad-weight order, with the tap as (ky, kx).
struct TapChannel {
  ky: u32,
  kx: u32,
  ci: u32,
}

fn tap_channel(k: u32) -> TapChannel {
  let tap = k / p.src_c;
  return TapChannel(tap / p.kernel_w, tap % p.kernel_w, k % p.src_c);
}

// Four consecutive im2col entries k .. k+3 (k = `at`) of the window at `origin`; 0 in the padding and past
// k_count. With VEC_A (src_c % 4 == 0) they are one aligned vec4 within one tap; otherwise the walk steps
// channel, then kx, then ky, without dividing.
fn load_input4(origin: WindowOrigin, at: TapChannel, k: u32, k_count: u32) -> vec4f {
  if (VEC_A) {
    if (k >= k_count) {
      return vec4f(0.0);
    }
    let pixel = source_pixel(origin.b, origin.y + i32(at.ky), origin.x + i32(at.kx));
    if (pixel < 0) {
      return vec4f(0.0);
    }
    return lhs[(u32(pixel) * p.src_c + at.ci) >> 2u];
  }
  var v = vec4f(0.0);
  var ky = at.ky;
  var kx = at.kx;
  var ci = at.ci;
  for (var j = 0u; j < 4u; j++) {
    if (k + j < k_count) {
      let pixel = source_pixel(origin.b, origin.y + i32(ky), origin.x + i32(kx));
      if (pixel >= 0) {
        v[j] = lhs_at(u32(pixel) * p.src_c + ci);
      }
    }
    ci += 1u;
    if (ci == p.src_c) {
      ci = 0u;
      kx += 1u;
      if (kx == p.kernel_w) {
        kx = 0u;
        ky += 1u;
      }
    }
  }
  return v;
}

// The mask factor of output pixel m (flat over batch × dst_h × dst_w).
fn pixel_mask(m: u32) -> f32 {
  if (MASK_MODE == 0u) {
    return 1.0;
  }
  let t = m / p.dst_w;
  return mask_at(t / p.dst_h, t % p.dst_h, m % p.dst_w);
}

// The mask factor of pixel m of the source map (a grad-input's dy, masked by the forward's output mask).
fn source_pixel_mask(m: u32) -> f32 {
  if (MASK_MODE == 0u) {
    return 1.0;
  }
  let t = m / p.src_w;
  return mask_at(t / p.src_h, t % p.src_h, m % p.src_w);
}
