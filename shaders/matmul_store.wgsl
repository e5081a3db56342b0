// The plain matmul epilogue's store (composed with shaders/matmul.wgsl): out[index] = value, or += when
// accumulating (gradients, split-K slices write their own partials).

fn store_matmul_result(index: u32, n: u32, value: f32) {
  write_result(index, value, p.accumulate != 0u);
}
