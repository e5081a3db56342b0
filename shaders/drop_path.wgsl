// Stochastic depth (drop path) on activation rows: every row belongs to one image, and the whole residual
// branch of a dropped image is zeroed while a kept one is scaled by 1 / keep probability (timm's DropPath with
// scale_by_keep). One thread per element:
//   out[r, c] = x[r, c] · scales[scale_offset + image(r)]
// The map is diagonal, so its backward is the same kernel on dy (dx = dy · scales[image]).
// image(r): sparse rows are block-major compacted sites whose packed position (b << 20 | y << 10 | x, see
// src/sparse/sites.ts packPositions) carries the image; dense NHWC rows are r / (H·W).

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> scales: array<f32>;
@group(0) @binding(3) var<storage, read> positions: array<u32>;
@group(1) @binding(0) var<uniform> params: DropPathParams;

fn image_of_row(row: u32) -> u32 {
  if (params.sparse_rows == 1u) {
    return positions[row] >> 20u;
  }
  return row / params.rows_per_image;
}

@compute @workgroup_size(256)
fn drop_path_rows(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i >= params.rows * params.channels) { return; }
  let row = i / params.channels;
  out[i] = x[i] * scales[params.scale_offset + image_of_row(row)];
}
