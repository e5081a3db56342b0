// Layer scale's backward (ConvNeXt's γ: y[r, c] = γ[c] · z[r, c], z kept by the forward epilogue,
// shaders/matmul_layer_scale.wgsl), one pass over dy:
//   dz[r, c] = γ[c] · dy[r, c]                                 the pointwise layer's output gradient
//   partials[block, c] = Σ_{r in block, in order} z[r, c] · dy[r, c]
// The partials of dγ are then summed over blocks in order (shaders/slice_reduce.wgsl): deterministic, no
// atomics. One thread per column (neighbouring threads read neighbouring channels), one workgroup row per
// block of rows. LayerScaleParams and the bindings are declared in src/engine/layerScale.ts.

const COLUMNS_PER_WORKGROUP = 64u;

@group(1) @binding(0) var<uniform> p: LayerScaleParams;

@compute @workgroup_size(COLUMNS_PER_WORKGROUP)
fn layer_scale_backward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x * COLUMNS_PER_WORKGROUP + lid;
  if (c >= p.cols) {
    return;
  }
  let first = wid.y * p.rows_per_block;
  let last = min(p.rows, first + p.rows_per_block);
  let g = gamma[c];
  var sum = 0.0;
  for (var r = first; r < last; r++) {
    let i = r * p.cols + c;
    let d = dy[i];
    dz[i] = g * d;
    sum += pre_scale[i] * d;
  }
  partials[wid.y * p.cols + c] = sum;
}
