// Batched 2-D transpose: out[b, c, r] = x[b, r, c] for x [batch, rows, cols], row-major.
// NCHW → NHWC is (rows, cols) = (C, H·W) per image, NHWC → NCHW is (H·W, C).
//
// Each 32×8 workgroup moves a 32×32 tile through workgroup memory: reads are coalesced along x's rows and
// writes along out's rows. The tile row stride is 33 so that the column-wise reads of the second phase
// fall in different banks.

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(0) var<uniform> params: TransposeParams;  // declared in src/engine/transpose.ts

const TILE: u32 = 32u;
const STEP: u32 = 8u;

var<workgroup> tile: array<f32, 1056>; // 32 rows × 33

@compute @workgroup_size(32, 8)
fn transpose(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let plane = wid.z * params.rows * params.cols;
  let col0 = wid.x * TILE;
  let row0 = wid.y * TILE;
  for (var i = lid.y; i < TILE; i += STEP) {
    let row = row0 + i;
    let col = col0 + lid.x;
    if (row < params.rows && col < params.cols) { tile[i * 33u + lid.x] = x[plane + row * params.cols + col]; }
  }
  workgroupBarrier();
  // Out is [cols, rows]: its row index is x's column.
  for (var i = lid.y; i < TILE; i += STEP) {
    let out_row = col0 + i;
    let out_col = row0 + lid.x;
    if (out_row < params.cols && out_col < params.rows) {
      out[plane + out_row * params.rows + out_col] = tile[lid.x * 33u + i];
    }
  }
}
