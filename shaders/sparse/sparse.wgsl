// The gathered sparse convolution family (KERNELS §3.1–3.2) on compacted rows [N, C]: bindings and the
// gathering A loader its GEMM ops (gemm.wgsl, grad_weight.wgsl, composed with shaders/lib/gemm_core.wgsl) share.
// A neighbour map [rows, taps] (i32) names, per GEMM row and tap, the source row to read; a negative entry is
// a missing neighbour (masked or padding) and reads as 0. SparseGemmParams is declared in src/engine/sparseConv.ts:
//   rows   GEMM rows (output sites; for the weight gradient, the sites summed over)
//   depth  channels of the gathered source (a K index is (tap, channel))
//   cols   GEMM columns (output channels)
//   taps   neighbour-map columns

// Storage bindings out, lhs, neighbours, rhs, bias: declared by SparseGemmLayout (src/engine/sparseConv.ts).
@group(1) @binding(0) var<uniform> p: SparseGemmParams;

// The taps are the map's columns, one after the other.
fn map_taps() -> TapWalk {
  return TapWalk(0u, 0u, 1u, 1u, 1u, 1u);
}

// Four consecutive K entries (tap, c .. c+3) of gathered row m; 0 from k_count on. The map is read once per
// run of 4 (again only where the run crosses into the next tap, which VEC_A rules out).
fn gather4(m: u32, k: u32, k_count: u32) -> vec4f {
  let tap = k / p.depth;
  return gather4_at(m, k, tap, k - tap * p.depth, k_count);
}

// gather4 with k's (tap, channel) already known (a weight-gradient row's, fixed along K).
fn gather4_at(m: u32, k: u32, first_tap: u32, first_ci: u32, k_count: u32) -> vec4f {
  var tap = first_tap;
  var ci = first_ci;
  var row = neighbours[m * p.taps + tap];
  if (VEC_A) {
    if (row < 0) {
      return vec4f(0.0);
    }
    return lhs[(u32(row) * p.depth + ci) >> 2u];
  }
  var v = vec4f(0.0);
  for (var j = 0u; j < 4u; j++) {
    if (k + j >= k_count) {
      break;
    }
    if (row >= 0) {
      v[j] = lhs_at(u32(row) * p.depth + ci);
    }
    ci += 1u;
    if (ci == p.depth && k + j + 1u < k_count) {
      ci = 0u;
      tap += 1u;
      row = neighbours[m * p.taps + tap];
    }
  }
  return v;
}
