// Fused BatchNorm for the training step (src/engine/batchnorm-fused.ts, twin src/reference/batchnorm-fused.ts):
// rows [R, C] (channel fastest): sparse rows, the decoder's dense maps, and (src/engine/batchnorm.ts: no
// activation, no residual) the dense-masked encoder's BN with its row mask.
//
//   forward  y = act(BN(x) + residual)       act: none / ReLU / ReLU6, residual optional
//   backward g = dy · act'(gate)             (gate = the forward output of the activation that follows, if any)
//            dγ += Σ g·x̂, dβ += Σ g, dx (= or +=) γ·invstd·(g − Σg/n − x̂·Σg·x̂/n)
//
// One elementwise pass does BN + residual + activation, and the backward reads dy through the activation's
// gate, so neither the activation, the residual add nor the activation's backward is a dispatch of its own, and
// `accumulate` lets a consumer add its dx into a gradient that other consumers of the same input also write
// (no fan-in add). The activation's derivative is read from its output: ReLU' (z) = 1 ⇔ y > 0 and ReLU6' (z) = 1 ⇔
// 0 < y < 6, PyTorch's convention at the kinks (0 at z = 0 and z = 6).
//
// Two schedules, chosen by the host from the row count:
//   single_forward / single_backward: one workgroup per block of `cb` channels walks every row twice
//     (statistics, then output): one dispatch each way, for layers small enough that a workgroup per channel
//     block is enough work (the small presets' every BatchNorm);
//   stats_partial → stats_finalize → normalize and grad_partial → grad_finalize → grad_input: the same sums
//     split over chunks of rows with a fixed-order second pass, for large layers. These also take an optional
//     row mask (1 = the row counts): other rows stay out of the statistics and the gradient sums and come out
//     as exactly 0 in y and dx (dx left as it is when accumulating). The single-pass kernels have no binding
//     left for a mask (8 storage buffers), so a masked BN always runs chunked.
// Both merge in a fixed order (no float atomics), so a given adapter gives the same bits every run.

// FusedBatchNormParams is declared in src/engine/batchnorm-fused.ts.
@group(1) @binding(0) var<uniform> p: FusedBatchNormParams;

// Storage bindings: the layouts in src/engine/batchnorm-fused.ts (an absent residual, gate or row mask binds
// the zeros buffer; the flags say so).

const ACT_RELU: u32 = 1u;
const ACT_RELU6: u32 = 2u;

fn activate(v: f32) -> f32 {
  if (p.act == ACT_RELU) { return max(v, 0.0); }
  if (p.act == ACT_RELU6) { return clamp(v, 0.0, 6.0); }
  return v;
}

// dy through the gate: the following activation's derivative read from its output.
fn gated(dy: f32, gate: f32) -> f32 {
  if (p.gate_act == ACT_RELU) { return select(0.0, dy, gate > 0.0); }
  if (p.gate_act == ACT_RELU6) { return select(0.0, dy, gate > 0.0 && gate < 6.0); }
  return dy;
}

// A workgroup of 256 invocations is `cb` channels × `lanes` row lanes (cb · lanes = 256).
struct Slot {
  channel: u32,
  lane: u32,
  column: u32,
  valid: bool,
}

fn slot_of(block: u32, lid: u32) -> Slot {
  let column = lid % p.cb;
  let channel = block * p.cb + column;
  return Slot(channel, lid / p.cb, column, channel < p.channels);
}

var<workgroup> wg_n: array<f32, 256>;
var<workgroup> wg_a: array<f32, 256>;
var<workgroup> wg_b: array<f32, 256>;

// Chan's merge of two (count, mean, M2) summaries.
fn chan_merge(a: vec3f, b: vec3f) -> vec3f {
  if (b.x <= 0.0) { return a; }
  let total = a.x + b.x;
  let delta = b.y - a.y;
  return vec3f(total, a.y + delta * b.x / total, a.z + b.z + delta * delta * a.x * b.x / total);
}

// Merges the lanes' Welford summaries of each channel in lane order (Chan); lane 0 of a valid channel gets
// the total (others get junk). Contains barriers: call from every invocation.
fn lanes_welford(s: Slot, lid: u32, own: vec3f) -> vec3f {
  wg_n[lid] = own.x;
  wg_a[lid] = own.y;
  wg_b[lid] = own.z;
  workgroupBarrier();
  var total = own;
  if (s.lane == 0u && s.valid) {
    for (var l = 1u; l < p.lanes; l++) {
      let k = l * p.cb + s.column;
      total = chan_merge(total, vec3f(wg_n[k], wg_a[k], wg_b[k]));
    }
  }
  workgroupBarrier(); // every lane has been read before the slots are reused
  return total;
}

// Adds the lanes' (Σg, Σg·(x − μ)) of each channel in lane order; lane 0 of a valid channel gets the total.
fn lanes_sum2(s: Slot, lid: u32, own: vec2f) -> vec2f {
  wg_a[lid] = own.x;
  wg_b[lid] = own.y;
  workgroupBarrier();
  var total = own;
  if (s.lane == 0u && s.valid) {
    for (var l = 1u; l < p.lanes; l++) {
      let k = l * p.cb + s.column;
      total += vec2f(wg_a[k], wg_b[k]);
    }
  }
  workgroupBarrier();
  return total;
}

// One Welford step.
fn welford_add(acc: vec3f, v: f32) -> vec3f {
  let n = acc.x + 1.0;
  let delta = v - acc.y;
  let mean = acc.y + delta / n;
  return vec3f(n, mean, acc.z + delta * (v - mean));
}

// PyTorch's running statistics: momentum towards the batch mean and the unbiased batch variance.
fn next_running(old: vec2f, stats: vec3f) -> vec2f {
  let unbiased = stats.z / max(stats.x - 1.0, 1.0);
  return (1.0 - p.momentum) * old + p.momentum * vec2f(stats.y, unbiased);
}

fn inv_std_of(stats: vec3f) -> f32 {
  return inverseSqrt(stats.z / max(stats.x, 1.0) + p.eps);
}

// ---------------------------------------------------------------- single pass (one workgroup per channel block)

@compute @workgroup_size(256)
fn single_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = slot_of(wid.x, lid);
  var own = vec3f(0.0);
  if (s.valid) {
    for (var r = s.lane; r < p.rows; r += p.lanes) { own = welford_add(own, sf_x[r * p.channels + s.channel]); }
  }
  let stats = lanes_welford(s, lid, own);
  if (s.lane == 0u && s.valid) {
    let c = s.channel;
    let inv_std = inv_std_of(stats);
    sf_saved[c] = stats.y;
    sf_saved[p.channels + c] = inv_std;
    sf_saved[2u * p.channels + c] = stats.x;
    let running = next_running(vec2f(sf_running_mean[c], sf_running_var[c]), stats);
    sf_running_mean[c] = running.x;
    sf_running_var[c] = running.y;
    wg_a[s.column] = stats.y;
    wg_b[s.column] = inv_std;
  }
  workgroupBarrier();
  if (!s.valid) { return; }
  let c = s.channel;
  let mean = wg_a[s.column];
  let inv_std = wg_b[s.column];
  for (var r = s.lane; r < p.rows; r += p.lanes) {
    let i = r * p.channels + c;
    var v = (sf_x[i] - mean) * inv_std * sf_gamma[c] + sf_beta[c];
    if (p.has_residual != 0u) { v += sf_residual[i]; }
    sf_y[i] = activate(v);
  }
}

fn sb_g(i: u32) -> f32 {
  if (p.gate_act == 0u) { return sb_dy[i]; }
  return gated(sb_dy[i], sb_gate[i]);
}

@compute @workgroup_size(256)
fn single_backward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = slot_of(wid.x, lid);
  var mean = 0.0;
  var own = vec2f(0.0);
  if (s.valid) {
    mean = sb_saved[s.channel];
    for (var r = s.lane; r < p.rows; r += p.lanes) {
      let i = r * p.channels + s.channel;
      let g = sb_g(i);
      own += vec2f(g, g * (sb_x[i] - mean));
    }
  }
  let sums = lanes_sum2(s, lid, own);
  if (s.lane == 0u && s.valid) {
    let c = s.channel;
    let n = max(sb_saved[2u * p.channels + c], 1.0);
    let sdy_xhat = sums.y * sb_saved[p.channels + c];
    // Parameter gradients accumulate (the trainer zeroes the grad arena once per step).
    sb_d_gamma[c] += sdy_xhat;
    sb_d_beta[c] += sums.x;
    wg_a[s.column] = sums.x / n;
    wg_b[s.column] = sdy_xhat / n;
  }
  workgroupBarrier();
  if (!s.valid) { return; }
  let c = s.channel;
  let inv_std = sb_saved[p.channels + c];
  let mean_dy = wg_a[s.column];
  let mean_dy_xhat = wg_b[s.column];
  for (var r = s.lane; r < p.rows; r += p.lanes) {
    let i = r * p.channels + c;
    let x_hat = (sb_x[i] - mean) * inv_std;
    let v = sb_gamma[c] * inv_std * (sb_g(i) - mean_dy - x_hat * mean_dy_xhat);
    if (p.accumulate != 0u) { sb_dx[i] += v; } else { sb_dx[i] = v; }
  }
}

// ---------------------------------------------------------------- chunked (large layers)

fn chunk_rows(chunk: u32) -> vec2u {
  let first = chunk * p.rows_per_chunk;
  return vec2u(first, min(first + p.rows_per_chunk, p.rows));
}

// Whether row r counts, per entry point (each has its own mask binding). Without a mask every row counts; the
// index is clamped because the absent mask is the 4-float zeros buffer, not [R].
fn sp_counts(r: u32) -> bool {
  return p.has_mask == 0u || sp_mask[min(r, arrayLength(&sp_mask) - 1u)] != 0.0;
}

@compute @workgroup_size(256)
fn stats_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = slot_of(wid.x, lid);
  let rows = chunk_rows(wid.y);
  var own = vec3f(0.0);
  if (s.valid) {
    for (var r = rows.x + s.lane; r < rows.y; r += p.lanes) {
      if (sp_counts(r)) { own = welford_add(own, sp_x[r * p.channels + s.channel]); }
    }
  }
  let stats = lanes_welford(s, lid, own);
  if (s.lane == 0u && s.valid) {
    let o = (wid.y * p.channels + s.channel) * 3u;
    sp_partials[o] = stats.x;
    sp_partials[o + 1u] = stats.y;
    sp_partials[o + 2u] = stats.z;
  }
}

@compute @workgroup_size(64)
fn stats_finalize(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.channels) { return; }
  var stats = vec3f(0.0);
  for (var k = 0u; k < p.chunks; k++) {
    let o = (k * p.channels + c) * 3u;
    stats = chan_merge(stats, vec3f(sfin_partials[o], sfin_partials[o + 1u], sfin_partials[o + 2u]));
  }
  sfin_saved[c] = stats.y;
  sfin_saved[p.channels + c] = inv_std_of(stats);
  sfin_saved[2u * p.channels + c] = stats.x;
  let running = next_running(vec2f(sfin_running_mean[c], sfin_running_var[c]), stats);
  sfin_running_mean[c] = running.x;
  sfin_running_var[c] = running.y;
}

fn nm_counts(r: u32) -> bool {
  return p.has_mask == 0u || nm_mask[min(r, arrayLength(&nm_mask) - 1u)] != 0.0;
}

@compute @workgroup_size(256)
fn normalize(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i >= p.rows * p.channels) { return; }
  let at = row_and_channel(i, p.channels);
  if (!nm_counts(at.x)) { nm_y[i] = 0.0; return; }
  let c = at.y;
  var v = (nm_x[i] - nm_saved[c]) * nm_saved[p.channels + c] * nm_gamma[c] + nm_beta[c];
  if (p.has_residual != 0u) { v += nm_residual[i]; }
  nm_y[i] = activate(v);
}

fn ev_counts(r: u32) -> bool {
  return p.has_mask == 0u || ev_mask[min(r, arrayLength(&ev_mask) - 1u)] != 0.0;
}

@compute @workgroup_size(256)
fn normalize_eval(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i >= p.rows * p.channels) { return; }
  let at = row_and_channel(i, p.channels);
  if (!ev_counts(at.x)) { ev_y[i] = 0.0; return; }
  let c = at.y;
  let inv_std = inverseSqrt(ev_running_var[c] + p.eps);
  var v = (ev_x[i] - ev_running_mean[c]) * inv_std * ev_gamma[c] + ev_beta[c];
  if (p.has_residual != 0u) { v += ev_residual[i]; }
  ev_y[i] = activate(v);
}

fn gp_g(i: u32) -> f32 {
  if (p.gate_act == 0u) { return gp_dy[i]; }
  return gated(gp_dy[i], gp_gate[i]);
}

fn gp_counts(r: u32) -> bool {
  return p.has_mask == 0u || gp_mask[min(r, arrayLength(&gp_mask) - 1u)] != 0.0;
}

@compute @workgroup_size(256)
fn grad_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = slot_of(wid.x, lid);
  let rows = chunk_rows(wid.y);
  var own = vec2f(0.0);
  if (s.valid) {
    let mean = gp_saved[s.channel];
    for (var r = rows.x + s.lane; r < rows.y; r += p.lanes) {
      if (gp_counts(r)) {
        let i = r * p.channels + s.channel;
        let g = gp_g(i);
        own += vec2f(g, g * (gp_x[i] - mean));
      }
    }
  }
  let sums = lanes_sum2(s, lid, own);
  if (s.lane == 0u && s.valid) {
    let o = (wid.y * p.channels + s.channel) * 2u;
    gp_partials[o] = sums.x;
    gp_partials[o + 1u] = sums.y;
  }
}

@compute @workgroup_size(64)
fn grad_finalize(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.channels) { return; }
  var sums = vec2f(0.0);
  for (var k = 0u; k < p.chunks; k++) {
    let o = (k * p.channels + c) * 2u;
    sums += vec2f(gf_partials[o], gf_partials[o + 1u]);
  }
  let n = max(gf_saved[2u * p.channels + c], 1.0);
  let sdy_xhat = sums.y * gf_saved[p.channels + c];
  gf_d_gamma[c] += sdy_xhat;
  gf_d_beta[c] += sums.x;
  gf_sums[c] = sums.x / n;
  gf_sums[p.channels + c] = sdy_xhat / n;
}

fn gi_g(i: u32) -> f32 {
  if (p.gate_act == 0u) { return gi_dy[i]; }
  return gated(gi_dy[i], gi_gate[i]);
}

fn gi_counts(r: u32) -> bool {
  return p.has_mask == 0u || gi_mask[min(r, arrayLength(&gi_mask) - 1u)] != 0.0;
}

@compute @workgroup_size(256)
fn grad_input(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i >= p.rows * p.channels) { return; }
  let at = row_and_channel(i, p.channels);
  if (!gi_counts(at.x)) {
    if (p.accumulate == 0u) { gi_dx[i] = 0.0; }
    return;
  }
  let c = at.y;
  let inv_std = gi_saved[p.channels + c];
  let x_hat = (gi_x[i] - gi_saved[c]) * inv_std;
  let v = gi_gamma[c] * inv_std * (gi_g(i) - gi_sums[c] - x_hat * gi_sums[p.channels + c]);
  if (p.accumulate != 0u) { gi_dx[i] += v; } else { gi_dx[i] = v; }
}
