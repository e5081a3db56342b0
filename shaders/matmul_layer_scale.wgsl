// Layer-scale epilogue (ConvNeXt's γ after its second pointwise layer; composed with shaders/matmul.wgsl):
//   out[m, n] = γ[n] · z[m, n],  z = the GEMM's value with its bias,
// and z itself into pre_scale, which γ's backward needs (dγ[n] = Σ_m z[m, n] · dy[m, n]). No accumulate and
// no split-K: a forward layer writes its output once. Bindings out, lhs, rhs, bias, scale, pre_scale:
// MatmulLayerScaleLayout (src/engine/matmul.ts).

fn store_matmul_result(index: u32, n: u32, value: f32) {
  pre_scale[index] = value;
  out[index] = scale[n] * value;
}
