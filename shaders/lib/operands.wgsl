// Library: element access for kernels whose family file declares the usual operand bindings: `out`
// (read_write f32), `lhs` and `rhs` (read vec4f arrays, bound in whole 16-byte units so that aligned runs of 4
// load as one vec4; single elements go through lhs_at / rhs_at).

fn lhs_at(i: u32) -> f32 {
  return lhs[i >> 2u][i & 3u];
}

fn rhs_at(i: u32) -> f32 {
  return rhs[i >> 2u][i & 3u];
}

// out[index] = value, or += value when accumulating (gradient accumulation, skip fan-in).
fn write_result(index: u32, value: f32, accumulate: bool) {
  if (accumulate) {
    out[index] += value;
  } else {
    out[index] = value;
  }
}
