// The second pass of every split-K GEMM and other sliced sums: out[i] (+)= alpha · Σ_s partials[first + s·stride + i]
// (+ bias[i % cols]), slices added in order 0, 1, … (deterministic, no atomics). One thread per element. The
// slices are usually packed (stride = count, first = 0); a strided view sums one part of wider partials.
// Composed with shaders/lib/grid.wgsl; SliceReduceParams is declared in src/engine/gemm.ts.

override HAS_BIAS: bool = false;

@group(1) @binding(0) var<uniform> p: SliceReduceParams;

@compute @workgroup_size(256)
fn slice_reduce(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid);
  if (i >= p.count) {
    return;
  }
  var sum = 0.0;
  for (var s = 0u; s < p.slices; s++) {
    sum += partials[p.first + s * p.slice_stride + i];
  }
  var value = p.alpha * sum;
  if (HAS_BIAS) {
    value += bias[i % p.cols];
  }
  if (p.accumulate != 0u) {
    value += out[i];
  }
  out[i] = value;
}
