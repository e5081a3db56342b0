// Optimisers over a parameter arena (src/engine/params.ts): values, gradients and moments of every tensor in
// big buffers at the same offsets. Work is split into chunks of ≤ 4096 elements that never straddle two
// tensors, described by a table of vec4u (start, end, segment, decay flag); one workgroup per chunk.
// Arena padding between tensors is never touched, nor are tensors the optimiser skips (no gradient): they
// have no chunks, and the segment index counts stepped tensors only.
//
// LAMB (SparK's copy of timm 0.5.4 Lamb, spark-spec §5.1), with G = global gradient L2 norm (computed before,
// by reduce.wgsl's segment sums, into grad_stats[segments + 1]):
//   lamb_moments  g = grad / (G > max_norm ? G / max_norm : 1); m = β1 m + (1−β1) g; v = β2 v + (1−β2) g²;
//                 u = (m / bc1) / (sqrt(v) / sqrt(bc2) + eps), + wd·p on decayed tensors.
//   (then per-tensor Σp², Σu² by the segment sums)
//   lamb_apply    p −= lr · r · u with r = ‖p‖/‖u‖ on decayed tensors when wd ≠ 0 (1 if either norm is 0),
//                 r = 1 elsewhere (the no-decay group behaves like Adam).
// AdamW (PyTorch AdamW + clip_grad_norm_):
//   adamw_step    g = grad · min(1, max_norm / (G + 1e-6)); p ·= 1 − lr·wd (decayed tensors);
//                 m, v as above; p −= lr / bc1 · m / (sqrt(v) / sqrt(bc2) + eps).
// Gradients are read, never modified (the official LAMB divides p.grad in place; nothing reads it after).
// bc1/bc2 are 1 − β^step per parameter group (decay, no decay), computed on the host.

// OptimParams is declared in src/train/optim.ts.
@group(1) @binding(0) var<uniform> p: OptimParams;

// lamb_moments bindings.
@group(0) @binding(0) var<storage, read_write> lm_update: array<f32>;
@group(0) @binding(1) var<storage, read_write> lm_exp_avg: array<f32>;
@group(0) @binding(2) var<storage, read_write> lm_exp_avg_sq: array<f32>;
@group(0) @binding(3) var<storage, read> lm_values: array<f32>;
@group(0) @binding(4) var<storage, read> lm_grads: array<f32>;
@group(0) @binding(5) var<storage, read> lm_chunks: array<vec4u>;
@group(0) @binding(6) var<storage, read> lm_grad_stats: array<f32>;

// lamb_apply bindings.
@group(0) @binding(0) var<storage, read_write> la_values: array<f32>;
@group(0) @binding(1) var<storage, read> la_update: array<f32>;
@group(0) @binding(2) var<storage, read> la_chunks: array<vec4u>;
@group(0) @binding(3) var<storage, read> la_value_stats: array<f32>;
@group(0) @binding(4) var<storage, read> la_update_stats: array<f32>;

// adamw_step bindings.
@group(0) @binding(0) var<storage, read_write> aw_values: array<f32>;
@group(0) @binding(1) var<storage, read_write> aw_exp_avg: array<f32>;
@group(0) @binding(2) var<storage, read_write> aw_exp_avg_sq: array<f32>;
@group(0) @binding(3) var<storage, read> aw_grads: array<f32>;
@group(0) @binding(4) var<storage, read> aw_chunks: array<vec4u>;
@group(0) @binding(5) var<storage, read> aw_grad_stats: array<f32>;

const THREADS = 256u;

fn chunk_id(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}

@compute @workgroup_size(THREADS)
fn lamb_moments(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let id = chunk_id(wid, nwg);
  if (id >= p.chunk_count) {
    return;
  }
  let chunk = lm_chunks[id];
  let decay = chunk.w != 0u;
  let global_norm = lm_grad_stats[p.segment_count + 1u];
  let clip = select(1.0, global_norm / p.max_grad_norm, global_norm > p.max_grad_norm);
  let bc1 = select(p.bc1_plain, p.bc1_decay, decay);
  let bc2 = select(p.bc2_plain, p.bc2_decay, decay);
  let wd = select(0.0, p.weight_decay, decay);
  let sqrt_bc2 = sqrt(bc2);
  for (var i = chunk.x + lid; i < chunk.y; i += THREADS) {
    let g = lm_grads[i] / clip;
    let m = p.beta1 * lm_exp_avg[i] + p.one_minus_beta1 * g;
    let v = p.beta2 * lm_exp_avg_sq[i] + p.one_minus_beta2 * g * g;
    lm_exp_avg[i] = m;
    lm_exp_avg_sq[i] = v;
    lm_update[i] = (m / bc1) / (sqrt(v) / sqrt_bc2 + p.eps) + wd * lm_values[i];
  }
}

@compute @workgroup_size(THREADS)
fn lamb_apply(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let id = chunk_id(wid, nwg);
  if (id >= p.chunk_count) {
    return;
  }
  let chunk = la_chunks[id];
  var ratio = 1.0;
  if (chunk.w != 0u && p.weight_decay != 0.0) {
    let value_norm = sqrt(la_value_stats[chunk.z]);
    let update_norm = sqrt(la_update_stats[chunk.z]);
    if (value_norm > 0.0 && update_norm > 0.0) {
      ratio = value_norm / update_norm;
    }
  }
  let step = p.lr * ratio;
  for (var i = chunk.x + lid; i < chunk.y; i += THREADS) {
    la_values[i] -= step * la_update[i];
  }
}

@compute @workgroup_size(THREADS)
fn adamw_step(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let id = chunk_id(wid, nwg);
  if (id >= p.chunk_count) {
    return;
  }
  let chunk = aw_chunks[id];
  let decay = chunk.w != 0u;
  let global_norm = aw_grad_stats[p.segment_count + 1u];
  let scale = min(1.0, p.max_grad_norm / (global_norm + 1e-6));
  let bc1 = select(p.bc1_plain, p.bc1_decay, decay);
  let bc2 = select(p.bc2_plain, p.bc2_decay, decay);
  let shrink = 1.0 - p.lr * select(0.0, p.weight_decay, decay);
  let step = p.lr / bc1;
  let sqrt_bc2 = sqrt(bc2);
  for (var i = chunk.x + lid; i < chunk.y; i += THREADS) {
    let g = aw_grads[i] * scale;
    let m = p.beta1 * aw_exp_avg[i] + p.one_minus_beta1 * g;
    let v = p.beta2 * aw_exp_avg_sq[i] + p.one_minus_beta2 * g * g;
    aw_exp_avg[i] = m;
    aw_exp_avg_sq[i] = v;
    aw_values[i] = aw_values[i] * shrink - step * m / (sqrt(v) / sqrt_bc2 + p.eps);
  }
}
