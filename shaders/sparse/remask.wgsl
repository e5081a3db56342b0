// Re-masking of a dense NHWC map by the cell mask, as the official SparK encoder multiplies an activation by
// the mask of its resolution (_get_active_ex_or_ii): out[b, y, x, c] = a[b, y, x, c] · cells[b, y / side,
// x / side]. A multiply and not a select, so a NaN at a masked site stays NaN (as in PyTorch) and the
// training guard still sees it. The backward of the multiply is the same kernel on dy.
// RemaskParams (declared in src/sparse/remask.ts): n = B·H·W·C elements, C channels, H×W map, gridH×gridW cells of side².

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> cells: array<u32>;
@group(1) @binding(0) var<uniform> params: RemaskParams;

@compute @workgroup_size(256)
fn remask(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i >= params.n) { return; }
  let pixel = i / params.channels;
  let x = pixel % params.width;
  let rest = pixel / params.width;
  let y = rest % params.height;
  let b = rest / params.height;
  let cell = (b * params.grid_h + y / params.side) * params.grid_w + x / params.side;
  out[i] = a[i] * f32(cells[cell]);
}
