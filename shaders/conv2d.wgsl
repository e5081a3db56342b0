// Dense 2-D convolution, NHWC activations, HWIO weights, as implicit GEMMs (forward, grad-input, grad-weight),
// plus the transposed-convolution variants that share the same machinery, and direct kernels for depthwise.
//
// GEMM tiling: a workgroup computes a TILE_M × TILE_N block of the result with (TILE_M/4)·(TILE_N/4) threads,
// each owning a 4×4 register block (rows strided by TILE_M/4, columns by TILE_N/4 so that neighbouring threads
// write neighbouring channels). The reduction advances BK = 16 at a time through two shared tiles stored
// k-major ([BK][TILE_M], [BK][TILE_N]) so the inner loop reads them as broadcasts/contiguous runs. Each loader
// thread fetches runs of 4 consecutive elements along the contiguous axis (channels), so global reads are
// coalesced for any channel count: one vec4 load when the channel count is a multiple of 4 (VEC_A / VEC_B),
// element by element otherwise.
//
// Entry points and their GEMMs (M rows × N columns, K reduction):
//   conv_forward      y[b,oy,ox,co] = Σ_{ky,kx,ci} x[b, oy·s−p+ky, ox·s−p+kx, ci]·W[ky,kx,ci,co]  (+bias, ×mask)
//                     M = B·Ho·Wo, N = Cout, K = kh·kw·Cin (ordered (tap, ci) so a K run is contiguous).
//                     With WEIGHT_T the weight is read as W[tap, n, r] (used for ConvTranspose's grad-input).
//   conv_phase        out[b,y,x,n] = Σ_{taps of y's phase} src[b, (y+p−ky)/s, (x+p−kx)/s, r]·W(tap, r, n)
//                     One dispatch layer (z) per output phase (y mod s, x mod s): only the taps with
//                     (y+p−ky) ≡ 0 (mod s) contribute, so no work is wasted on the stride's holes. This is both
//                     the grad-input of a strided conv (WEIGHT_T: W[tap, n=ci, r=co]) and the forward of a
//                     transposed conv (W[tap, r=ci, n=co], + bias).
//   conv_grad_weight  dW[(tap,ci), co] = Σ_m im2col(x)[m,(tap,ci)]·dy[m,co], split-K over pixel slices (z).
//   (shaders/conv_transpose.wgsl is appended to this file for the transposed conv's weight gradient.)
//   reduce_slices     out[i] (+)= Σ_s partial[s, i], in slice order (deterministic, no atomics).
//   dw_forward / dw_grad_input / dw_grad_weight: depthwise (groups = C), one thread per element; these
//                     are memory-bound, so a GEMM formulation buys nothing.
//
// Masks (MASK_MODE 1 = u32, 2 = f32 bit patterns) are at cell resolution: mask[b, y / cell_h, x / cell_w].
// The forward multiplies its output by the mask; the backward entries multiply dy by it on load, which is
// the mask epilogue's gradient.

struct ConvParams {
  batch: u32,
  src_h: u32,
  src_w: u32,
  src_c: u32,
  dst_h: u32,
  dst_w: u32,
  dst_c: u32,
  kernel_h: u32,
  kernel_w: u32,
  stride_h: u32,
  stride_w: u32,
  pad_h: u32,
  pad_w: u32,
  // Split-K: reduction rows handled by one slice (grad-weight, column sums).
  rows_per_slice: u32,
  slices: u32,
  mask_h: u32,
  mask_w: u32,
  cell_h: u32,
  cell_w: u32,
  has_bias: u32,
  // 1: add into `out` (gradient accumulation / skip fan-in); 0: overwrite.
  accumulate: u32,
}

struct ReduceParams {
  count: u32,
  slices: u32,
  accumulate: u32,
}

const TM = 4u;
const TN = 4u;
const BK = 16u;
override TILE_M: u32 = 64u;
override TILE_N: u32 = 64u;
override WG_M: u32 = TILE_M / TM;
override WG_N: u32 = TILE_N / TN;
override THREADS: u32 = WG_M * WG_N;
override TILE_A: u32 = BK * TILE_M;
override TILE_B: u32 = BK * TILE_N;
override WEIGHT_T: bool = false;
override MASK_MODE: u32 = 0u;
// Whole-vec4 loads: VEC_A when the A operand's run axis (its channels) is a multiple of 4, VEC_B when the
// weight's / dy's run axis is. Every run of 4 then starts 16-byte aligned and stays within one tap.
override VEC_A: bool = false;
override VEC_B: bool = false;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
// lhs and rhs are bound as vec4 arrays (bindings rounded up to 16 bytes) so aligned runs load as one vec4;
// scalar reads go through lhs_at / rhs_at.
@group(0) @binding(1) var<storage, read> lhs: array<vec4f>;
// The mask sits before the weights so that every entry point uses a prefix of the bindings (layout 'auto'
// drops unused ones, and the runtime numbers buffers by position).
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read> rhs: array<vec4f>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(1) @binding(0) var<uniform> p: ConvParams;

var<workgroup> tile_a: array<f32, TILE_A>;
var<workgroup> tile_b: array<f32, TILE_B>;

fn lhs_at(i: u32) -> f32 {
  return lhs[i >> 2u][i & 3u];
}

fn rhs_at(i: u32) -> f32 {
  return rhs[i >> 2u][i & 3u];
}

fn mask_at(b: u32, y: u32, x: u32) -> f32 {
  if (MASK_MODE == 0u) {
    return 1.0;
  }
  let v = mask[(b * p.mask_h + y / p.cell_h) * p.mask_w + x / p.cell_w];
  if (MASK_MODE == 1u) {
    return select(0.0, 1.0, v != 0u);
  }
  return bitcast<f32>(v);
}

// One BK step of the register-blocked product of the two shared tiles.
fn mac_tile(tx: u32, ty: u32, acc: ptr<function, array<vec4f, 4>>) {
  for (var kk = 0u; kk < BK; kk++) {
    let bo = kk * TILE_N + tx;
    let bv = vec4f(tile_b[bo], tile_b[bo + WG_N], tile_b[bo + 2u * WG_N], tile_b[bo + 3u * WG_N]);
    let ao = kk * TILE_M + ty;
    (*acc)[0] += tile_a[ao] * bv;
    (*acc)[1] += tile_a[ao + WG_M] * bv;
    (*acc)[2] += tile_a[ao + 2u * WG_M] * bv;
    (*acc)[3] += tile_a[ao + 3u * WG_M] * bv;
  }
}

// Which kernel taps a GEMM K index walks: forward walks all (ky, kx); a phase walks ky0 + s·t.
struct TapWalk {
  ky0: u32,
  kx0: u32,
  taps_x: u32,
  step_y: u32,
  step_x: u32,
}

fn tap_of(walk: TapWalk, t: u32) -> u32 {
  return (walk.ky0 + walk.step_y * (t / walk.taps_x)) * p.kernel_w + walk.kx0 + walk.step_x * (t % walk.taps_x);
}

// B tile [BK][TILE_N] from a weight; K index k = (t, r) with r in [0, r_count), N index n in [0, n_count).
// Plain: W[(tap·R + r)·N + n] (runs of 4 along n). Transposed: W[(tap·N + n)·R + r] (runs of 4 along r).
fn load_weight_tile(walk: TapWalk, k0: u32, n0: u32, k_count: u32, r_count: u32, n_count: u32, lid: u32) {
  for (var e = lid; e < TILE_B / 4u; e += THREADS) {
    if (!WEIGHT_T) {
      let kk = e / (TILE_N / 4u);
      let nq = (e % (TILE_N / 4u)) * 4u;
      let k = k0 + kk;
      var v = vec4f(0.0);
      if (k < k_count) {
        let base = (tap_of(walk, k / r_count) * r_count + k % r_count) * n_count + n0 + nq;
        if (VEC_B) {
          if (n0 + nq < n_count) {
            v = rhs[base >> 2u];
          }
        } else {
          for (var j = 0u; j < 4u; j++) {
            if (n0 + nq + j < n_count) {
              v[j] = rhs_at(base + j);
            }
          }
        }
      }
      for (var j = 0u; j < 4u; j++) {
        tile_b[kk * TILE_N + nq + j] = v[j];
      }
    } else {
      let nn = e / (BK / 4u);
      let kq = (e % (BK / 4u)) * 4u;
      let n = n0 + nn;
      var t = (k0 + kq) / r_count;
      var r = (k0 + kq) % r_count;
      if (VEC_B) {
        var v = vec4f(0.0);
        if (n < n_count && k0 + kq < k_count) {
          v = rhs[((tap_of(walk, t) * n_count + n) * r_count + r) >> 2u];
        }
        for (var j = 0u; j < 4u; j++) {
          tile_b[(kq + j) * TILE_N + nn] = v[j];
        }
      } else {
        for (var j = 0u; j < 4u; j++) {
          var v = 0.0;
          if (n < n_count && k0 + kq + j < k_count) {
            v = rhs_at((tap_of(walk, t) * n_count + n) * r_count + r);
          }
          tile_b[(kq + j) * TILE_N + nn] = v;
          r += 1u;
          if (r == r_count) {
            r = 0u;
            t += 1u;
          }
        }
      }
    }
  }
}

// im2col element of the forward / grad-weight GEMMs: x[b, oy·s − p + ky, ox·s − p + kx, ci], 0 in the padding.
fn input_index(b: u32, oy: u32, ox: u32, tap: u32) -> i32 {
  let iy = i32(oy * p.stride_h + tap / p.kernel_w) - i32(p.pad_h);
  let ix = i32(ox * p.stride_w + tap % p.kernel_w) - i32(p.pad_w);
  if (iy < 0 || iy >= i32(p.src_h) || ix < 0 || ix >= i32(p.src_w)) {
    return -1;
  }
  return i32((b * p.src_h + u32(iy)) * p.src_w + u32(ix));
}

fn load_input(b: u32, oy: u32, ox: u32, tap: u32, ci: u32) -> f32 {
  let pixel = input_index(b, oy, ox, tap);
  if (pixel < 0) {
    return 0.0;
  }
  return lhs_at(u32(pixel) * p.src_c + ci);
}

// Four channels ci..ci+3 of one tap (src_c % 4 == 0, so they are aligned and in the same tap).
fn load_input_vec4(b: u32, oy: u32, ox: u32, tap: u32, ci: u32, valid: bool) -> vec4f {
  let pixel = input_index(b, oy, ox, tap);
  if (!valid || pixel < 0) {
    return vec4f(0.0);
  }
  return lhs[(u32(pixel) * p.src_c + ci) >> 2u];
}

fn write_result(index: u32, value: f32) {
  if (p.accumulate != 0u) {
    out[index] += value;
  } else {
    out[index] = value;
  }
}

// Four consecutive im2col entries k .. k+3 ((tap, ci) in K order) of output pixel (b, oy, ox); 0 past k_count.
fn load_input4(b: u32, oy: u32, ox: u32, k: u32, k_count: u32) -> vec4f {
  var tap = k / p.src_c;
  var ci = k % p.src_c;
  if (VEC_A) {
    return load_input_vec4(b, oy, ox, tap, ci, k < k_count);
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

// B tile of a weight-gradient GEMM: rows k0 .. k0+BK of dy [m, dst_c] (rhs), × the output mask; rows from
// `last` on read as 0.
fn load_dy_tile(k0: u32, last: u32, n0: u32, lid: u32) {
  for (var e = lid; e < TILE_B / 4u; e += THREADS) {
    let kk = e / (TILE_N / 4u);
    let nq = (e % (TILE_N / 4u)) * 4u;
    let m = k0 + kk;
    var v = vec4f(0.0);
    if (m < last) {
      let ox = m % p.dst_w;
      let t = m / p.dst_w;
      let scale = mask_at(t / p.dst_h, t % p.dst_h, ox);
      if (VEC_B) {
        if (n0 + nq < p.dst_c) {
          v = rhs[(m * p.dst_c + n0 + nq) >> 2u] * scale;
        }
      } else {
        for (var j = 0u; j < 4u; j++) {
          if (n0 + nq + j < p.dst_c) {
            v[j] = rhs_at(m * p.dst_c + n0 + nq + j) * scale;
          }
        }
      }
    }
    for (var j = 0u; j < 4u; j++) {
      tile_b[kk * TILE_N + nq + j] = v[j];
    }
  }
}

// Epilogue of one accumulator row of an output tile: + bias, × scale (the output mask), into output row `row`.
fn store_output_row(row: u32, n0: u32, tx: u32, acc_row: vec4f, scale: f32) {
  for (var j = 0u; j < TN; j++) {
    let n = n0 + tx + j * WG_N;
    if (n < p.dst_c) {
      var value = acc_row[j];
      if (p.has_bias != 0u) {
        value += bias[n];
      }
      write_result(row * p.dst_c + n, value * scale);
    }
  }
}

// Epilogue of a weight-gradient tile (rows r of r_count × columns n): slice z's partial, or straight into dW
// when a single slice accumulates.
fn store_weight_grad_tile(r0: u32, n0: u32, slice: u32, r_count: u32, lid3: vec3u, acc: ptr<function, array<vec4f, 4>>) {
  let slice_offset = select(slice * r_count * p.dst_c, 0u, p.accumulate != 0u);
  for (var i = 0u; i < TM; i++) {
    let r = r0 + lid3.y + i * WG_M;
    for (var j = 0u; j < TN; j++) {
      let n = n0 + lid3.x + j * WG_N;
      if (r < r_count && n < p.dst_c) {
        write_result(slice_offset + r * p.dst_c + n, (*acc)[i][j]);
      }
    }
  }
}

@compute @workgroup_size(WG_N, WG_M)
fn conv_forward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid3: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let m_count = p.batch * p.dst_h * p.dst_w;
  let k_count = p.kernel_h * p.kernel_w * p.src_c;
  let m0 = wid.x * TILE_M;
  let n0 = wid.y * TILE_N;
  let walk = TapWalk(0u, 0u, p.kernel_w, 1u, 1u);
  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < k_count; k0 += BK) {
    // A tile: 4 consecutive (tap, ci) of one output pixel per thread-iteration.
    for (var e = lid; e < TILE_A / 4u; e += THREADS) {
      let row = e / (BK / 4u);
      let kq = (e % (BK / 4u)) * 4u;
      let m = m0 + row;
      var v = vec4f(0.0);
      if (m < m_count) {
        let ox = m % p.dst_w;
        let t = m / p.dst_w;
        let oy = t % p.dst_h;
        v = load_input4(t / p.dst_h, oy, ox, k0 + kq, k_count);
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
    if (m >= m_count) {
      continue;
    }
    let ox = m % p.dst_w;
    let t = m / p.dst_w;
    store_output_row(m, n0, lid3.x, acc[i], mask_at(t / p.dst_h, t % p.dst_h, ox));
  }
}

@compute @workgroup_size(WG_N, WG_M)
fn conv_phase(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid3: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let py = wid.z / p.stride_w;
  let px = wid.z % p.stride_w;
  if (py >= p.dst_h || px >= p.dst_w) {
    return;
  }
  // Output positions of this phase: y = py + s·iy.
  let rows_y = (p.dst_h - py + p.stride_h - 1u) / p.stride_h;
  let rows_x = (p.dst_w - px + p.stride_w - 1u) / p.stride_w;
  let m_count = p.batch * rows_y * rows_x;
  let m0 = wid.x * TILE_M;
  if (m0 >= m_count) {
    return;
  }
  // Taps with (y + p − ky) ≡ 0 (mod s): ky = ky0 + s·t; the source row is then iy + base_y − t.
  let ky0 = (py + p.pad_h) % p.stride_h;
  let kx0 = (px + p.pad_w) % p.stride_w;
  let taps_y = select(0u, (p.kernel_h - ky0 + p.stride_h - 1u) / p.stride_h, ky0 < p.kernel_h);
  let taps_x = select(0u, (p.kernel_w - kx0 + p.stride_w - 1u) / p.stride_w, kx0 < p.kernel_w);
  let base_y = (py + p.pad_h - ky0) / p.stride_h;
  let base_x = (px + p.pad_w - kx0) / p.stride_w;
  let k_count = taps_y * taps_x * p.src_c;
  let n0 = wid.y * TILE_N;
  let walk = TapWalk(ky0, kx0, max(taps_x, 1u), p.stride_h, p.stride_w);
  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < k_count; k0 += BK) {
    for (var e = lid; e < TILE_A / 4u; e += THREADS) {
      let row = e / (BK / 4u);
      let kq = (e % (BK / 4u)) * 4u;
      let m = m0 + row;
      var v = vec4f(0.0);
      if (m < m_count) {
        let ix = m % rows_x;
        let t = m / rows_x;
        let iy = t % rows_y;
        let b = t / rows_y;
        var tap = (k0 + kq) / p.src_c;
        var r = (k0 + kq) % p.src_c;
        if (VEC_A) {
          if (k0 + kq < k_count) {
            let sy = i32(iy + base_y) - i32(tap / taps_x);
            let sx = i32(ix + base_x) - i32(tap % taps_x);
            if (sy >= 0 && sy < i32(p.src_h) && sx >= 0 && sx < i32(p.src_w)) {
              v = lhs[(((b * p.src_h + u32(sy)) * p.src_w + u32(sx)) * p.src_c + r) >> 2u] *
                mask_at(b, u32(sy), u32(sx));
            }
          }
        } else {
          for (var j = 0u; j < 4u; j++) {
            if (k0 + kq + j < k_count) {
              let sy = i32(iy + base_y) - i32(tap / taps_x);
              let sx = i32(ix + base_x) - i32(tap % taps_x);
              if (sy >= 0 && sy < i32(p.src_h) && sx >= 0 && sx < i32(p.src_w)) {
                v[j] = lhs_at(((b * p.src_h + u32(sy)) * p.src_w + u32(sx)) * p.src_c + r) *
                  mask_at(b, u32(sy), u32(sx));
              }
            }
            r += 1u;
            if (r == p.src_c) {
              r = 0u;
              tap += 1u;
            }
          }
        }
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
    if (m >= m_count) {
      continue;
    }
    let ix = m % rows_x;
    let t = m / rows_x;
    let y = py + p.stride_h * (t % rows_y);
    let x = px + p.stride_w * ix;
    store_output_row(((t / rows_y) * p.dst_h + y) * p.dst_w + x, n0, lid3.x, acc[i], 1.0);
  }
}

// Result rows (tap, ci) × columns co, reduction over output pixels of slice z.
@compute @workgroup_size(WG_N, WG_M)
fn conv_grad_weight(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid3: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let pixels = p.batch * p.dst_h * p.dst_w;
  let r_count = p.kernel_h * p.kernel_w * p.src_c;
  let first = wid.z * p.rows_per_slice;
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
        let ox = m % p.dst_w;
        let t = m / p.dst_w;
        let oy = t % p.dst_h;
        v = load_input4(t / p.dst_h, oy, ox, r0 + rq, r_count);
      }
      for (var j = 0u; j < 4u; j++) {
        tile_a[kk * TILE_M + rq + j] = v[j];
      }
    }
    load_dy_tile(k0, last, n0, lid);
    workgroupBarrier();
    mac_tile(lid3.x, lid3.y, &acc);
    workgroupBarrier();
  }
  store_weight_grad_tile(r0, n0, wid.z, r_count, lid3, &acc);
}

// ---------------------------------------------------------------- split-K reduction (bias gradients: reduce.ts columnSum)

@group(1) @binding(0) var<uniform> rp: ReduceParams;

@compute @workgroup_size(256)
fn reduce_slices(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= rp.count) {
    return;
  }
  var sum = 0.0;
  for (var s = 0u; s < rp.slices; s++) {
    sum += lhs_at(s * rp.count + i);
  }
  if (rp.accumulate != 0u) {
    out[i] += sum;
  } else {
    out[i] = sum;
  }
}

// ---------------------------------------------------------------- depthwise (groups = C)

fn flat_index(wid: vec3u, lid: u32, nwg: vec3u) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

// lhs = x, rhs = W [kh, kw, C]; out = y.
@compute @workgroup_size(256)
fn dw_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(wid, lid, nwg);
  let c_count = p.src_c;
  if (i >= p.batch * p.dst_h * p.dst_w * c_count) {
    return;
  }
  let c = i % c_count;
  let pixel = i / c_count;
  let ox = pixel % p.dst_w;
  let t = pixel / p.dst_w;
  let oy = t % p.dst_h;
  let b = t / p.dst_h;
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
  write_result(i, sum * mask_at(b, oy, ox));
}

// lhs = dy [B, dst_h, dst_w, C], rhs = W; out = dx [B, src_h, src_w, C].
@compute @workgroup_size(256)
fn dw_grad_input(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(wid, lid, nwg);
  let c_count = p.src_c;
  if (i >= p.batch * p.src_h * p.src_w * c_count) {
    return;
  }
  let c = i % c_count;
  let pixel = i / c_count;
  let ix = pixel % p.src_w;
  let t = pixel / p.src_w;
  let iy = t % p.src_h;
  let b = t / p.src_h;
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
  write_result(i, sum);
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
