// LayerNorm over the channels of each row [R, C] (ConvNeXt, eps 1e-6), used on compacted active rows (sparse
// LN: masked sites have no row, so they stay 0) and on dense NHWC pixels alike.
//   forward:            one 64-thread workgroup per row; two passes over the row (mean, then Σ(x−μ)²: no
//                       cancellation), fixed-order tree reductions in shared memory; saves (mean, 1/σ) per row.
//   backward_input:     one workgroup per row: dx = (1/σ)·(g − mean(g) − x̂·mean(g·x̂)), g = dy·γ.
//   param_grad_partial: 64 channels × 4 row lanes per workgroup over a chunk of rows: Σ dy·x̂, Σ dy.
//   param_grad_reduce:  one thread per channel sums the chunks in order; dγ, dβ accumulate (+=).

@group(1) @binding(0) var<uniform> params: LayerNormParams;  // declared in src/engine/layernorm.ts

const WG: u32 = 64u;

// Fixed-order tree sums over the row's 64 invocations (shaders/lib/reduce.wgsl).
fn reduce_pair(lid: u32, a: f32, b: f32) -> vec2f {
  return workgroup_sum2(lid, WG, vec2f(a, b));
}

@group(0) @binding(0) var<storage, read_write> fw_y: array<f32>;
@group(0) @binding(1) var<storage, read_write> fw_saved: array<f32>;
@group(0) @binding(2) var<storage, read> fw_x: array<f32>;
@group(0) @binding(3) var<storage, read> fw_gamma: array<f32>;
@group(0) @binding(4) var<storage, read> fw_beta: array<f32>;

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let r = grid_workgroup(wid, nwg);
  let live = r < params.rows; // no early return: the barriers need every thread
  let C = params.channels;
  let base = min(r, params.rows - 1u) * C;
  var s = 0.0;
  for (var c = lid; c < C; c += WG) { s += fw_x[base + c]; }
  let mean = reduce_pair(lid, s, 0.0).x / f32(C);
  var v = 0.0;
  for (var c = lid; c < C; c += WG) {
    let d = fw_x[base + c] - mean;
    v += d * d;
  }
  let inv_std = inverseSqrt(reduce_pair(lid, v, 0.0).x / f32(C) + params.eps);
  if (live) {
    for (var c = lid; c < C; c += WG) {
      fw_y[base + c] = (fw_x[base + c] - mean) * inv_std * fw_gamma[c] + fw_beta[c];
    }
    if (lid == 0u) {
      fw_saved[2u * r] = mean;
      fw_saved[2u * r + 1u] = inv_std;
    }
  }
}

@group(0) @binding(0) var<storage, read_write> bi_dx: array<f32>;
@group(0) @binding(1) var<storage, read> bi_dy: array<f32>;
@group(0) @binding(2) var<storage, read> bi_x: array<f32>;
@group(0) @binding(3) var<storage, read> bi_saved: array<f32>;
@group(0) @binding(4) var<storage, read> bi_gamma: array<f32>;

@compute @workgroup_size(64)
fn backward_input(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let r = grid_workgroup(wid, nwg);
  let live = r < params.rows;
  let rr = min(r, params.rows - 1u);
  let C = params.channels;
  let base = rr * C;
  let mean = bi_saved[2u * rr];
  let inv_std = bi_saved[2u * rr + 1u];
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = lid; c < C; c += WG) {
    let g = bi_dy[base + c] * bi_gamma[c];
    sg += g;
    sgx += g * (bi_x[base + c] - mean) * inv_std;
  }
  let sums = reduce_pair(lid, sg, sgx) / f32(C);
  if (live) {
    for (var c = lid; c < C; c += WG) {
      let x_hat = (bi_x[base + c] - mean) * inv_std;
      bi_dx[base + c] = inv_std * (bi_dy[base + c] * bi_gamma[c] - sums.x - x_hat * sums.y);
    }
  }
}

@group(0) @binding(0) var<storage, read_write> pp_partials: array<f32>;
@group(0) @binding(1) var<storage, read> pp_dy: array<f32>;
@group(0) @binding(2) var<storage, read> pp_x: array<f32>;
@group(0) @binding(3) var<storage, read> pp_saved: array<f32>;

@compute @workgroup_size(64, 4)
fn param_grad_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let c = wid.x * 64u + lid.x;
  let chunk = wid.y;
  let valid = c < params.channels;
  let start = chunk * params.rows_per_chunk;
  let end = min(start + params.rows_per_chunk, params.rows);
  var sdx = 0.0;
  var sd = 0.0;
  if (valid) {
    for (var r = start + lid.y; r < end; r += 4u) {
      let i = r * params.channels + c;
      let g = pp_dy[i];
      sdx += g * (pp_x[i] - pp_saved[2u * r]) * pp_saved[2u * r + 1u];
      sd += g;
    }
  }
  let sums = lane_column_sum2(lid, vec2f(sdx, sd));
  if (lid.y == 0u && valid) {
    pp_partials[(chunk * params.channels + c) * 2u] = sums.x;
    pp_partials[(chunk * params.channels + c) * 2u + 1u] = sums.y;
  }
}

@group(0) @binding(0) var<storage, read_write> pr_dgamma: array<f32>;
@group(0) @binding(1) var<storage, read_write> pr_dbeta: array<f32>;
@group(0) @binding(2) var<storage, read> pr_partials: array<f32>;

@compute @workgroup_size(64)
fn param_grad_reduce(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= params.channels) { return; }
  var a = 0.0;
  var b = 0.0;
  for (var k = 0u; k < params.chunks; k++) {
    a += pr_partials[(k * params.channels + c) * 2u];
    b += pr_partials[(k * params.channels + c) * 2u + 1u];
  }
  pr_dgamma[c] += a;
  pr_dbeta[c] += b;
}
