// The dense convolution family (NHWC activations, HWIO weights): the bindings and the cell mask that its GEMM
// ops (forward.wgsl, phase.wgsl, grad_weight.wgsl, transpose_grad_weight.wgsl, composed with im2col.wgsl and
// shaders/lib/gemm_core.wgsl) and its depthwise kernels (depthwise.wgsl) share. ConvParams is declared
// once in src/engine/conv2d.ts (uniformStruct), which prepends its WGSL text.
//
// Masks (MASK_MODE 1 = u32, 2 = f32 bit patterns) are at cell resolution: mask[b, y / cell_h, x / cell_w].
// A forward multiplies its output by the mask; the backward ops multiply dy by it on load, which is the mask
// epilogue's gradient.

override MASK_MODE: u32 = 0u;
// A 1×1, stride-1, unpadded conv (source and destination maps the same size): a GEMM row is a pixel of both
// maps and a K index is a channel, so the loaders read plain rows with no window index math.
override POINTWISE: bool = false;

// Storage bindings out, lhs, mask, rhs, bias: declared by ConvLayout (src/engine/conv2d.ts).
@group(1) @binding(0) var<uniform> p: ConvParams;

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

// The flat pixel index of (b, y, x) in the source map [B, src_h, src_w], or −1 outside it (padding).
fn source_pixel(b: u32, y: i32, x: i32) -> i32 {
  if (y < 0 || y >= i32(p.src_h) || x < 0 || x >= i32(p.src_w)) {
    return -1;
  }
  return i32((b * p.src_h + u32(y)) * p.src_w + u32(x));
}
