// Optimisers over a parameter arena (src/engine/params.ts): values, gradients and moments of every tensor in
// big buffers at the same offsets. Work is split into chunks of ≤ 4096 elements that never straddle two
// tensors, described by a table of vec4u (start, end, segment, decay flag); one workgroup per chunk.
// Arena padding between tensors is never touched, nor are tensors the optimiser skips (no gradient): they
// have no chunks, and the segment index counts stepped tensors only.
//
// This file holds the chunk indexing both optimisers share and AdamW; LAMB (SparK's copy of timm 0.5.4
// Lamb, spark-spec §5.1) is shaders/lamb_fused.wgsl, appended to this file when the module is built.
//
// AdamW (PyTorch AdamW + clip_grad_norm_):
//   adamw_step    g = grad · min(1, max_norm / (G + 1e-6)); p ·= 1 − lr·wd (decayed tensors);
//                 m = β1 m + (1−β1) g; v = β2 v + (1−β2) g²; p −= lr / bc1 · m / (sqrt(v) / sqrt(bc2) + eps).
// Gradients are read, never modified (the official LAMB divides p.grad in place; nothing reads it after).
// bc1/bc2 are 1 − β^step per parameter group (decay, no decay), computed on the host.

// OptimParams is declared in src/train/optim.ts.
@group(1) @binding(0) var<uniform> p: OptimParams;

// Storage bindings (aw_* here, cs_*, lt_*, ms_*, ap_* in lamb_fused.wgsl): OPTIM_LAYOUTS in src/train/optim.ts.

const THREADS = 256u;

fn chunk_id(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// The bias corrections of a chunk's parameter group: (1 − β1^step, √(1 − β2^step)).
fn group_corrections(decay: bool) -> vec2f {
  return vec2f(select(p.bc1_plain, p.bc1_decay, decay), sqrt(select(p.bc2_plain, p.bc2_decay, decay)));
}

// Adam's first and second moments (m, v) after one more gradient g.
fn next_moments(g: f32, m: f32, v: f32) -> vec2f {
  return vec2f(p.beta1 * m + p.one_minus_beta1 * g, p.beta2 * v + p.one_minus_beta2 * g * g);
}

@compute @workgroup_size(THREADS)
fn adamw_step(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let id = chunk_id(wid, nwg);
  if (id >= p.chunk_count) { return; }
  let chunk = aw_chunks[id];
  let decay = chunk.w != 0u;
  // clip_grad_norm_ scales by max_norm / (G + 1e-6) when that is below 1.
  let scale = min(1.0, p.max_grad_norm / (aw_grad_stats[p.segment_count + 1u] + 1e-6));
  let bc = group_corrections(decay);
  let shrink = 1.0 - p.lr * select(0.0, p.weight_decay, decay);
  // PyTorch's order: p·(1 − lr·wd) − (lr / bc1) · m / (√v / √bc2 + eps).
  let step = p.lr / bc.x;
  for (var i = chunk.x + lid; i < chunk.y; i += THREADS) {
    let mv = next_moments(aw_grads[i] * scale, aw_exp_avg[i], aw_exp_avg_sq[i]);
    aw_exp_avg[i] = mv.x;
    aw_exp_avg_sq[i] = mv.y;
    aw_values[i] = aw_values[i] * shrink - step * mv.x / (sqrt(mv.y) / bc.y + p.eps);
  }
}
