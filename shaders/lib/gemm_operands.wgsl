// Library: operand runs and epilogues shared by the GEMM ops' hooks (shaders/lib/gemm_core.wgsl); composed with
// shaders/lib/operands.wgsl, whose binding contract it shares (`out`, `lhs`, `rhs`, and `bias` here).

// lhs[row · stride + col .. +3]; elements from column `limit` on read as 0. VEC_A: one aligned vec4 (stride,
// col and limit are multiples of 4).
fn lhs_run(row: u32, col: u32, stride: u32, limit: u32) -> vec4f {
  var v = vec4f(0.0);
  if (VEC_A) {
    if (col < limit) {
      v = lhs[(row * stride + col) >> 2u];
    }
  } else {
    for (var j = 0u; j < 4u; j++) {
      if (col + j < limit) {
        v[j] = lhs_at(row * stride + col + j);
      }
    }
  }
  return v;
}

// The same for rhs, with VEC_B.
fn rhs_run(row: u32, col: u32, stride: u32, limit: u32) -> vec4f {
  var v = vec4f(0.0);
  if (VEC_B) {
    if (col < limit) {
      v = rhs[(row * stride + col) >> 2u];
    }
  } else {
    for (var j = 0u; j < 4u; j++) {
      if (col + j < limit) {
        v[j] = rhs_at(row * stride + col + j);
      }
    }
  }
  return v;
}

// Which kernel taps a weight GEMM's K index walks: a forward walks all (ky, kx) (row_taps = kernel width); a
// phase of a strided grad-input walks ky0 + step_y·t; a sparse conv's taps are its neighbour-map columns.
struct TapWalk {
  ky0: u32,
  kx0: u32,
  taps_x: u32,
  step_y: u32,
  step_x: u32,
  row_taps: u32,
}

fn tap_of(walk: TapWalk, t: u32) -> u32 {
  return (walk.ky0 + walk.step_y * (t / walk.taps_x)) * walk.row_taps + walk.kx0 + walk.step_x * (t % walk.taps_x);
}

// B run of a weight GEMM (rhs = the weight): K index k = (t, r) with r in [0, r_count), N index n in
// [0, n_count), 0 from k_count on. Plain (B_RUNS_ALONG_K false): W[(tap·R + r)·N + n .. +3]. Transposed (a
// grad-input reads the forward's weight this way): W[(tap·N + n)·R + r] for k .. k+3, crossing taps.
fn weight_run(walk: TapWalk, k: u32, n: u32, k_count: u32, r_count: u32, n_count: u32) -> vec4f {
  if (!B_RUNS_ALONG_K) {
    if (k >= k_count) {
      return vec4f(0.0);
    }
    return rhs_run(tap_of(walk, k / r_count) * r_count + k % r_count, n, n_count, n_count);
  }
  var t = k / r_count;
  var r = k % r_count;
  if (VEC_B) {
    if (n < n_count && k < k_count) {
      return rhs[((tap_of(walk, t) * n_count + n) * r_count + r) >> 2u];
    }
    return vec4f(0.0);
  }
  var v = vec4f(0.0);
  for (var j = 0u; j < 4u; j++) {
    if (n < n_count && k + j < k_count) {
      v[j] = rhs_at((tap_of(walk, t) * n_count + n) * r_count + r);
    }
    r += 1u;
    if (r == r_count) {
      r = 0u;
      t += 1u;
    }
  }
  return v;
}

// Epilogue of an activation row: C[m, n] (+ bias[n]) × scale into out[m · n_count + n] (= or +=).
fn store_activation_row(m: u32, n0: u32, tx: u32, acc: vec4f, n_count: u32, scale: f32, has_bias: bool, accumulate: bool) {
  for (var j = 0u; j < TN; j++) {
    let n = n0 + tx + j * WG_N;
    if (n < n_count) {
      var value = acc[j];
      if (has_bias) {
        value += bias[n];
      }
      write_result(m * n_count + n, value * scale, accumulate);
    }
  }
}

// Epilogue of a weight-gradient row r (of r_count) into out[offset + r · n_count + n]: a split-K slice's
// partial (offset = its slice), or straight into dW when one slice accumulates.
fn store_weight_grad_row(r: u32, n0: u32, tx: u32, acc: vec4f, r_count: u32, n_count: u32, offset: u32, accumulate: bool) {
  if (r >= r_count) {
    return;
  }
  for (var j = 0u; j < TN; j++) {
    let n = n0 + tx + j * WG_N;
    if (n < n_count) {
      write_result(offset + r * n_count + n, acc[j], accumulate);
    }
  }
}
