// BatchNorm over rows [R, C] (channel fastest) with an optional row mask (1 = the row counts; other rows
// come out as exactly 0). Sparse BN runs it on compacted rows [N_active, C] without a mask; the decoder's
// dense BN on NHWC runs it with R = N·H·W; the dense zero-masked baseline passes the pixel mask.
//
// Training statistics are deterministic two-level reductions (no float atomics):
//   stats_partial:  a workgroup of 64 channels × 4 row lanes walks one chunk of rows; each thread keeps a
//                   Welford (count, mean, M2), the 4 lanes are Chan-merged in a fixed order and the chunk's
//                   partial is written to partials[chunk, c, 0..2].
//   stats_finalize: one thread per channel merges the chunks in order, writes saved = [mean | invstd | count]
//                   and updates the running statistics (unbiased variance, momentum).
//   normalize:      y = (x − mean)·invstd·γ + β on counted rows, 0 elsewhere.
// Backward mirrors it: grad_partial (Σdy, Σdy·(x−μ)) → grad_finalize (dγ += , dβ += ) → grad_input.

const LANES: u32 = 4u;
const CH: u32 = 64u;

// BatchNormParams is declared in src/engine/batchnorm.ts; has_mask is 1 when a row mask is bound (the dense
// zero-masked baseline), otherwise the mask binding holds a buffer the kernel does not read.
@group(1) @binding(0) var<uniform> params: BatchNormParams;

// The mask binding is always bound (a dummy when there is none) so every entry point has fixed bindings.
fn row_counts(mask_value: f32) -> bool {
  return params.has_mask == 0u || mask_value != 0.0;
}

// ---------------------------------------------------------------- statistics

@group(0) @binding(0) var<storage, read_write> partials: array<f32>;
@group(0) @binding(1) var<storage, read> stats_x: array<f32>;
@group(0) @binding(2) var<storage, read> stats_mask: array<f32>;

var<workgroup> lane_n: array<f32, 256>;
var<workgroup> lane_mean: array<f32, 256>;
var<workgroup> lane_m2: array<f32, 256>;

@compute @workgroup_size(64, 4)
fn stats_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let c = wid.x * CH + lid.x;
  let chunk = wid.y;
  let valid = c < params.channels;
  let start = chunk * params.rows_per_chunk;
  let end = min(start + params.rows_per_chunk, params.rows);
  var n = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  if (valid) {
    for (var r = start + lid.y; r < end; r += LANES) {
      let counts = row_counts(stats_mask[min(r, arrayLength(&stats_mask) - 1u)]);
      if (counts) {
        let v = stats_x[r * params.channels + c];
        n += 1.0;
        let delta = v - mean;
        mean += delta / n;
        m2 += delta * (v - mean);
      }
    }
  }
  let slot = lid.y * CH + lid.x;
  lane_n[slot] = n;
  lane_mean[slot] = mean;
  lane_m2[slot] = m2;
  workgroupBarrier();
  if (lid.y == 0u && valid) {
    // Chan's parallel merge, lanes in fixed order 0..3.
    var tn = lane_n[lid.x];
    var tmean = lane_mean[lid.x];
    var tm2 = lane_m2[lid.x];
    for (var l = 1u; l < LANES; l++) {
      let bn = lane_n[l * CH + lid.x];
      if (bn > 0.0) {
        let total = tn + bn;
        let delta = lane_mean[l * CH + lid.x] - tmean;
        tmean += delta * bn / total;
        tm2 += lane_m2[l * CH + lid.x] + delta * delta * tn * bn / total;
        tn = total;
      }
    }
    let o = (chunk * params.channels + c) * 3u;
    partials[o] = tn;
    partials[o + 1u] = tmean;
    partials[o + 2u] = tm2;
  }
}

@group(0) @binding(0) var<storage, read_write> fin_saved: array<f32>;
@group(0) @binding(1) var<storage, read_write> fin_running_mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> fin_running_var: array<f32>;
@group(0) @binding(3) var<storage, read> fin_partials: array<f32>;

@compute @workgroup_size(64)
fn stats_finalize(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= params.channels) { return; }
  var n = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var k = 0u; k < params.chunks; k++) {
    let o = (k * params.channels + c) * 3u;
    let bn = fin_partials[o];
    if (bn > 0.0) {
      let total = n + bn;
      let delta = fin_partials[o + 1u] - mean;
      mean += delta * bn / total;
      m2 += fin_partials[o + 2u] + delta * delta * n * bn / total;
      n = total;
    }
  }
  let variance = m2 / max(n, 1.0);
  fin_saved[c] = mean;
  fin_saved[params.channels + c] = inverseSqrt(variance + params.eps);
  fin_saved[2u * params.channels + c] = n;
  let unbiased = m2 / max(n - 1.0, 1.0);
  let m = params.momentum;
  fin_running_mean[c] = (1.0 - m) * fin_running_mean[c] + m * mean;
  fin_running_var[c] = (1.0 - m) * fin_running_var[c] + m * unbiased;
}

// ---------------------------------------------------------------- normalisation

@group(0) @binding(0) var<storage, read_write> norm_y: array<f32>;
@group(0) @binding(1) var<storage, read> norm_x: array<f32>;
@group(0) @binding(2) var<storage, read> norm_saved: array<f32>;
@group(0) @binding(3) var<storage, read> norm_gamma: array<f32>;
@group(0) @binding(4) var<storage, read> norm_beta: array<f32>;
@group(0) @binding(5) var<storage, read> norm_mask: array<f32>;

@compute @workgroup_size(256)
fn normalize(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i >= params.rows * params.channels) { return; }
  let r = i / params.channels;
  let c = i - r * params.channels;
  let counts = row_counts(norm_mask[min(r, arrayLength(&norm_mask) - 1u)]);
  if (!counts) { norm_y[i] = 0.0; return; }
  norm_y[i] = (norm_x[i] - norm_saved[c]) * norm_saved[params.channels + c] * norm_gamma[c] + norm_beta[c];
}

@group(0) @binding(0) var<storage, read_write> eval_y: array<f32>;
@group(0) @binding(1) var<storage, read> eval_x: array<f32>;
@group(0) @binding(2) var<storage, read> eval_running_mean: array<f32>;
@group(0) @binding(3) var<storage, read> eval_running_var: array<f32>;
@group(0) @binding(4) var<storage, read> eval_gamma: array<f32>;
@group(0) @binding(5) var<storage, read> eval_beta: array<f32>;
@group(0) @binding(6) var<storage, read> eval_mask: array<f32>;

@compute @workgroup_size(256)
fn normalize_eval(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i >= params.rows * params.channels) { return; }
  let r = i / params.channels;
  let c = i - r * params.channels;
  let counts = row_counts(eval_mask[min(r, arrayLength(&eval_mask) - 1u)]);
  if (!counts) { eval_y[i] = 0.0; return; }
  let inv_std = inverseSqrt(eval_running_var[c] + params.eps);
  eval_y[i] = (eval_x[i] - eval_running_mean[c]) * inv_std * eval_gamma[c] + eval_beta[c];
}

// ---------------------------------------------------------------- backward

@group(0) @binding(0) var<storage, read_write> gp_partials: array<f32>;
@group(0) @binding(1) var<storage, read> gp_dy: array<f32>;
@group(0) @binding(2) var<storage, read> gp_x: array<f32>;
@group(0) @binding(3) var<storage, read> gp_saved: array<f32>;
@group(0) @binding(4) var<storage, read> gp_mask: array<f32>;

@compute @workgroup_size(64, 4)
fn grad_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let c = wid.x * CH + lid.x;
  let chunk = wid.y;
  let valid = c < params.channels;
  let start = chunk * params.rows_per_chunk;
  let end = min(start + params.rows_per_chunk, params.rows);
  var sdy = 0.0;
  var sdyx = 0.0;
  if (valid) {
    let mean = gp_saved[c];
    for (var r = start + lid.y; r < end; r += LANES) {
      let counts = row_counts(gp_mask[min(r, arrayLength(&gp_mask) - 1u)]);
      if (counts) {
        let i = r * params.channels + c;
        let g = gp_dy[i];
        sdy += g;
        sdyx += g * (gp_x[i] - mean);
      }
    }
  }
  // Lanes added in order 0..3 (shaders/lib/reduce.wgsl).
  let sums = lane_column_sum2(lid, vec2f(sdy, sdyx));
  if (lid.y == 0u && valid) {
    let o = (chunk * params.channels + c) * 2u;
    gp_partials[o] = sums.x;
    gp_partials[o + 1u] = sums.y;
  }
}

@group(0) @binding(0) var<storage, read_write> gf_sums: array<f32>;
@group(0) @binding(1) var<storage, read_write> gf_dgamma: array<f32>;
@group(0) @binding(2) var<storage, read_write> gf_dbeta: array<f32>;
@group(0) @binding(3) var<storage, read> gf_partials: array<f32>;
@group(0) @binding(4) var<storage, read> gf_saved: array<f32>;

@compute @workgroup_size(64)
fn grad_finalize(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= params.channels) { return; }
  var sdy = 0.0;
  var sdyx = 0.0;
  for (var k = 0u; k < params.chunks; k++) {
    let o = (k * params.channels + c) * 2u;
    sdy += gf_partials[o];
    sdyx += gf_partials[o + 1u];
  }
  let inv_std = gf_saved[params.channels + c];
  let n = max(gf_saved[2u * params.channels + c], 1.0);
  let sdy_xhat = sdyx * inv_std;
  // Parameter gradients accumulate (the trainer zeroes the grad arena once per step).
  gf_dgamma[c] += sdy_xhat;
  gf_dbeta[c] += sdy;
  gf_sums[c] = sdy / n;
  gf_sums[params.channels + c] = sdy_xhat / n;
}

@group(0) @binding(0) var<storage, read_write> gi_dx: array<f32>;
@group(0) @binding(1) var<storage, read> gi_dy: array<f32>;
@group(0) @binding(2) var<storage, read> gi_x: array<f32>;
@group(0) @binding(3) var<storage, read> gi_saved: array<f32>;
@group(0) @binding(4) var<storage, read> gi_sums: array<f32>;
@group(0) @binding(5) var<storage, read> gi_gamma: array<f32>;
@group(0) @binding(6) var<storage, read> gi_mask: array<f32>;

@compute @workgroup_size(256)
fn grad_input(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i >= params.rows * params.channels) { return; }
  let r = i / params.channels;
  let c = i - r * params.channels;
  let counts = row_counts(gi_mask[min(r, arrayLength(&gi_mask) - 1u)]);
  if (!counts) { gi_dx[i] = 0.0; return; }
  let inv_std = gi_saved[params.channels + c];
  let x_hat = (gi_x[i] - gi_saved[c]) * inv_std;
  gi_dx[i] = gi_gamma[c] * inv_std * (gi_dy[i] - gi_sums[c] - x_hat * gi_sums[params.channels + c]);
}
