// Densify: compacted sparse rows [N_active, C] → a dense NHWC map [B, H, W, C] whose masked pixels hold a
// learned per-scale mask token [C] (or zeros), and its backward. The grid index [B, H, W] (i32) gives each
// pixel's row, −1 where masked (src/sparse/sites.ts builds it in block-major row order).
//
//   densify_forward        out[pixel, c] = idx ≥ 0 ? rows[idx, c] : token[c]      one thread per element
//   densify_backward_rows  d_rows[idx, c] (+)= d_out[pixel, c] at visible pixels    (each row has one pixel)
//   token_partials         partial[slice, c] = Σ_{masked pixels of slice} d_out[pixel, c]
// The token gradient's slices are then reduced in fixed order (shaders/slice_reduce.wgsl): no atomics.

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> pixel_rows: array<i32>;
@group(0) @binding(3) var<storage, read> token: array<f32>;
@group(1) @binding(0) var<uniform> p: ScatterParams;  // declared in src/engine/densify.ts

@compute @workgroup_size(256)
fn densify_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid);
  if (i >= p.pixels * p.channels) {
    return;
  }
  let c = i % p.channels;
  let row = pixel_rows[i / p.channels];
  if (row >= 0) {
    out[i] = src[u32(row) * p.channels + c];
  } else if (p.use_token != 0u) {
    out[i] = token[c];
  } else {
    out[i] = 0.0;
  }
}

// src = d_out (dense); out = d_rows.
@compute @workgroup_size(256)
fn densify_backward_rows(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid);
  if (i >= p.pixels * p.channels) {
    return;
  }
  let row = pixel_rows[i / p.channels];
  if (row < 0) {
    return;
  }
  let destination = u32(row) * p.channels + i % p.channels;
  if (p.accumulate != 0u) {
    out[destination] += src[i];
  } else {
    out[destination] = src[i];
  }
}

// One thread per (channel, slice): neighbouring threads read neighbouring channels of one pixel.
@compute @workgroup_size(64)
fn token_partials(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.channels) {
    return;
  }
  let first = gid.y * p.rows_per_slice;
  let last = min(p.pixels, first + p.rows_per_slice);
  var sum = 0.0;
  for (var pixel = first; pixel < last; pixel++) {
    if (pixel_rows[pixel] < 0) {
      sum += src[pixel * p.channels + c];
    }
  }
  out[gid.y * p.channels + c] = sum;
}
