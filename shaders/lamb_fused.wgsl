// LAMB in four dispatches over the parameter arena (src/train/optim.ts `Lamb`; twin src/reference/optim.ts), on
// the chunk table of shaders/optim.wgsl (vec4u start, end, segment, decay; chunks never straddle two tensors,
// a segment's chunks are consecutive and `firsts[s]` is its first):
//   lamb_chunk_stats  per chunk Σg² and Σp² (p before the step) → chunk_stats[2·chunk + 0, 1]
//   lamb_totals       one workgroup: per segment Σg², Σp² (its chunks in order) → grad_stats, value_stats;
//                     their sums over segments → [segments], √ → [segments + 1] (G, the global gradient norm)
//   lamb_moments_stats  g = grad / (G > max_norm ? G / max_norm : 1); m = β1 m + (1−β1) g; v = β2 v + (1−β2) g²;
//                     u = (m / bc1) / (sqrt(v) / sqrt(bc2) + eps), + wd·p on decayed tensors; Σu² of the
//                     chunk → update_partials[chunk]
//   lamb_apply_stats  p −= lr · r · u with r = ‖p‖/‖u‖ on decayed tensors when wd ≠ 0 (1 if either norm is 0),
//                     r = 1 elsewhere (the no-decay group behaves like Adam); ‖u‖² of the segment is summed
//                     from its chunks' partials in order (its first chunk also stores it in update_stats)
// All sums are fixed-order (workgroup tree of shaders/lib/reduce.wgsl, then chunk order), so a run repeats
// bit for bit on one adapter.

@compute @workgroup_size(THREADS)
fn lamb_chunk_stats(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let id = chunk_id(wid, nwg);
  if (id >= p.chunk_count) { return; }
  let chunk = cs_chunks[id];
  var own = vec2f(0.0);
  for (var i = chunk.x + lid; i < chunk.y; i += THREADS) {
    let g = cs_grads[i];
    let v = cs_values[i];
    own += vec2f(g * g, v * v);
  }
  let total = workgroup_sum2(lid, THREADS, own);
  if (lid == 0u) {
    cs_chunk_stats[2u * id] = total.x;
    cs_chunk_stats[2u * id + 1u] = total.y;
  }
}

@compute @workgroup_size(THREADS)
fn lamb_totals(@builtin(local_invocation_index) lid: u32) {
  var own = vec2f(0.0);
  for (var s = lid; s < p.segment_count; s += THREADS) {
    var sums = vec2f(0.0);
    for (var c = lt_firsts[s]; c < lt_firsts[s + 1u]; c++) {
      sums += vec2f(lt_chunk_stats[2u * c], lt_chunk_stats[2u * c + 1u]);
    }
    lt_grad_stats[s] = sums.x;
    lt_value_stats[s] = sums.y;
    own += sums;
  }
  let total = workgroup_sum2(lid, THREADS, own);
  if (lid == 0u) {
    lt_grad_stats[p.segment_count] = total.x;
    lt_grad_stats[p.segment_count + 1u] = sqrt(total.x);
    lt_value_stats[p.segment_count] = total.y;
    lt_value_stats[p.segment_count + 1u] = sqrt(total.y);
  }
}

@compute @workgroup_size(THREADS)
fn lamb_moments_stats(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let id = chunk_id(wid, nwg);
  if (id >= p.chunk_count) { return; }
  let chunk = ms_chunks[id];
  let decay = chunk.w != 0u;
  // timm's Lamb clips inside the step: the gradient is divided by G / max_norm when G exceeds max_norm.
  let global_norm = ms_grad_stats[p.segment_count + 1u];
  let clip = select(1.0, global_norm / p.max_grad_norm, global_norm > p.max_grad_norm);
  let bc = group_corrections(decay);
  let wd = select(0.0, p.weight_decay, decay);
  var own = 0.0;
  for (var i = chunk.x + lid; i < chunk.y; i += THREADS) {
    let mv = next_moments(ms_grads[i] / clip, ms_exp_avg[i], ms_exp_avg_sq[i]);
    ms_exp_avg[i] = mv.x;
    ms_exp_avg_sq[i] = mv.y;
    let u = (mv.x / bc.x) / (sqrt(mv.y) / bc.y + p.eps) + wd * ms_values[i];
    ms_update[i] = u;
    own += u * u;
  }
  let total = workgroup_sum2(lid, THREADS, vec2f(own, 0.0));
  if (lid == 0u) {
    ms_update_partials[id] = total.x;
  }
}

@compute @workgroup_size(THREADS)
fn lamb_apply_stats(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let id = chunk_id(wid, nwg);
  if (id >= p.chunk_count) { return; }
  let chunk = ap_chunks[id];
  var update_sq = 0.0;
  for (var c = ap_firsts[chunk.z]; c < ap_firsts[chunk.z + 1u]; c++) {
    update_sq += ap_update_partials[c];
  }
  if (lid == 0u && id == ap_firsts[chunk.z]) {
    ap_update_stats[chunk.z] = update_sq;
  }
  var ratio = 1.0;
  if (chunk.w != 0u && p.weight_decay != 0.0) {
    let value_norm = sqrt(ap_value_stats[chunk.z]);
    let update_norm = sqrt(update_sq);
    if (value_norm > 0.0 && update_norm > 0.0) {
      ratio = value_norm / update_norm;
    }
  }
  let step = p.lr * ratio;
  for (var i = chunk.x + lid; i < chunk.y; i += THREADS) {
    ap_values[i] -= step * ap_update[i];
  }
}
