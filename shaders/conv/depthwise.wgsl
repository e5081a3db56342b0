// Depthwise convolution (groups = C) on dense NHWC, one thread per element: memory-bound, so a GEMM
// formulation buys nothing. Composed with conv.wgsl (bindings, mask), shaders/lib/operands.wgsl and
// shaders/lib/grid.wgsl. Weight [kh, kw, C].
//   dw_forward      y = Σ_taps x · W (+ bias) (× mask)
//   dw_grad_input   dx = Σ_taps (dy × mask) · W over the taps that reach each input pixel
//   dw_grad_weight  dW partials [slices, kh·kw, C] over pixel slices (or dW directly for a single slice)

// (b, y, x, c) of element i of an NHWC map [B, h, w, c_count].
fn nhwc_coords(i: u32, h: u32, w: u32, c_count: u32) -> vec4u {
  let pixel = i / c_count;
  let t = pixel / w;
  return vec4u(t / h, t % h, pixel % w, i % c_count);
}

// lhs = x, rhs = W [kh, kw, C]; out = y.
@compute @workgroup_size(256)
fn dw_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid);
  let c_count = p.src_c;
  if (i >= p.batch * p.dst_h * p.dst_w * c_count) {
    return;
  }
  let at = nhwc_coords(i, p.dst_h, p.dst_w, c_count);
  let b = at.x;
  let oy = at.y;
  let ox = at.z;
  let c = at.w;
  var sum = 0.0;
  for (var ky = 0u; ky < p.kernel_h; ky++) {
    let iy = i32(oy * p.stride_h + ky) - i32(p.pad_h);
    if (iy < 0 || iy >= i32(p.src_h)) {
      continue;
    }
    for (var kx = 0u; kx < p.kernel_w; kx++) {
      let ix = i32(ox * p.stride_w + kx) - i32(p.pad_w);
      if (ix >= 0 && ix < i32(p.src_w)) {
        sum += lhs_at(((b * p.src_h + u32(iy)) * p.src_w + u32(ix)) * c_count + c) *
          rhs_at((ky * p.kernel_w + kx) * c_count + c);
      }
    }
  }
  if (p.has_bias != 0u) {
    sum += bias[c];
  }
  write_result(i, sum * mask_at(b, oy, ox), p.accumulate != 0u);
}

// lhs = dy [B, dst_h, dst_w, C], rhs = W; out = dx [B, src_h, src_w, C].
@compute @workgroup_size(256)
fn dw_grad_input(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid);
  let c_count = p.src_c;
  if (i >= p.batch * p.src_h * p.src_w * c_count) {
    return;
  }
  let at = nhwc_coords(i, p.src_h, p.src_w, c_count);
  let b = at.x;
  let iy = at.y;
  let ix = at.z;
  let c = at.w;
  var sum = 0.0;
  for (var ky = 0u; ky < p.kernel_h; ky++) {
    let ny = i32(iy + p.pad_h) - i32(ky);
    if (ny < 0 || ny % i32(p.stride_h) != 0 || ny / i32(p.stride_h) >= i32(p.dst_h)) {
      continue;
    }
    let oy = u32(ny) / p.stride_h;
    for (var kx = 0u; kx < p.kernel_w; kx++) {
      let nx = i32(ix + p.pad_w) - i32(kx);
      if (nx < 0 || nx % i32(p.stride_w) != 0 || nx / i32(p.stride_w) >= i32(p.dst_w)) {
        continue;
      }
      let ox = u32(nx) / p.stride_w;
      sum += lhs_at(((b * p.dst_h + oy) * p.dst_w + ox) * c_count + c) * mask_at(b, oy, ox) *
        rhs_at((ky * p.kernel_w + kx) * c_count + c);
    }
  }
  write_result(i, sum, p.accumulate != 0u);
}

// lhs = x, rhs = dy; out = partial [slices, kh·kw, C] (or dW directly when accumulating a single slice).
@compute @workgroup_size(64)
fn dw_grad_weight(@builtin(global_invocation_id) gid: vec3u) {
  let c_count = p.src_c;
  let taps = p.kernel_h * p.kernel_w;
  let e = gid.x;
  if (e >= taps * c_count) {
    return;
  }
  let c = e % c_count;
  let tap = e / c_count;
  let ky = tap / p.kernel_w;
  let kx = tap % p.kernel_w;
  let pixels = p.batch * p.dst_h * p.dst_w;
  let first = gid.y * p.rows_per_slice;
  let last = min(pixels, first + p.rows_per_slice);
  var sum = 0.0;
  for (var m = first; m < last; m++) {
    let ox = m % p.dst_w;
    let t = m / p.dst_w;
    let oy = t % p.dst_h;
    let b = t / p.dst_h;
    let iy = i32(oy * p.stride_h + ky) - i32(p.pad_h);
    let ix = i32(ox * p.stride_w + kx) - i32(p.pad_w);
    if (iy >= 0 && iy < i32(p.src_h) && ix >= 0 && ix < i32(p.src_w)) {
      sum += lhs_at(((b * p.src_h + u32(iy)) * p.src_w + u32(ix)) * c_count + c) *
        rhs_at(m * c_count + c) * mask_at(b, oy, ox);
    }
  }
  if (p.accumulate != 0u) {
    out[e] += sum;
  } else {
    out[gid.y * taps * c_count + e] = sum;
  }
}
