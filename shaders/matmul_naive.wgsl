// The reference-style GEMM (one thread per output, a plain loop over K): the matmul benchmark's baseline and a
// fallback the host can force. Same bindings and MatmulParams as matmul.wgsl; composed with
// shaders/lib/operands.wgsl. TRANS_A: a stored [K, M]; TRANS_B: b stored [N, K].

override TRANS_A: bool = false;
override TRANS_B: bool = false;

@group(1) @binding(0) var<uniform> p: MatmulParams;

@compute @workgroup_size(16, 16)
fn gemm_naive(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.y;
  let col = gid.x;
  if (row >= p.m || col >= p.n) {
    return;
  }
  var sum = 0.0;
  for (var k = 0u; k < p.k; k++) {
    let a = select(lhs_at(row * p.k + k), lhs_at(k * p.m + row), TRANS_A);
    let b = select(rhs_at(k * p.n + col), rhs_at(col * p.k + k), TRANS_B);
    sum = fma(a, b, sum);
  }
  var value = p.alpha * sum;
  if (p.has_bias != 0u) {
    value += bias[col];
  }
  write_result(row * p.n + col, value, p.accumulate != 0u);
}
