// Kernels of the downstream probe (src/engine/probe.ts): pooling the encoder's feature maps into one vector
// per image, and the softmax cross-entropy of a classifier head. Twins: src/reference/probe.ts.
//
//   gap_forward:      out[b, offset + c] = (1/hw) · Σ_p x[b, p, c]       x: NHWC [B, hw, C]; out rows of `stride`
//                     (several scales write side by side into one row: the concatenated features)
//   gap_backward:     dx[b, p, c] = dy[b, offset + c] / hw                 (written, not accumulated)
//   xent_forward:     per row of logits [rows, K] with label y: loss = logsumexp(z) − z_y (max-shifted, so no
//                     exp overflows), correct = 1 when the first maximal logit is y → stats[row, 0..1]
//   xent_backward:    dlogits[row, k] = scale · (softmax(z)_k − [k = y])   (scale = 1/rows for a mean loss)
//   xent_summary:     one workgroup, fixed order: summary = (Σ loss / rows, Σ correct) over stats

@group(0) @binding(0) var<storage, read_write> dst: array<f32>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(1) @binding(0) var<uniform> params: ProbeParams;  // declared in src/engine/probe.ts

fn linear_id(wid: vec3u, lid: vec3u, nwg: vec3u) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid.x;
}

@compute @workgroup_size(256)
fn gap_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
               @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(wid, lid, nwg);
  let C = params.channels;
  if (i >= params.batch * C) { return; }
  let b = i / C;
  let c = i % C;
  let base = b * params.hw * C + c;
  // Summed in position order, then scaled once: the twin does the same.
  var sum = 0.0;
  for (var p = 0u; p < params.hw; p++) { sum += src[base + p * C]; }
  dst[b * params.stride + params.offset + c] = sum * params.scale;
}

@compute @workgroup_size(256)
fn gap_backward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
                @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(wid, lid, nwg);
  let C = params.channels;
  if (i >= params.batch * params.hw * C) { return; }
  let b = i / (params.hw * C);
  let c = i % C;
  dst[i] = src[b * params.stride + params.offset + c] * params.scale;
}

fn row_max(base: u32, K: u32) -> f32 {
  var m = src[base];
  for (var k = 1u; k < K; k++) { m = max(m, src[base + k]); }
  return m;
}

fn row_sum_exp(base: u32, K: u32, m: f32) -> f32 {
  var s = 0.0;
  for (var k = 0u; k < K; k++) { s += exp(src[base + k] - m); }
  return s;
}

@compute @workgroup_size(256)
fn xent_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
                @builtin(num_workgroups) nwg: vec3u) {
  let row = linear_id(wid, lid, nwg);
  if (row >= params.batch) { return; }
  let K = params.channels;
  let base = row * K;
  let y = labels[row];
  let m = row_max(base, K);
  let lse = m + log(row_sum_exp(base, K, m));
  // The prediction is the first index holding the maximum (ties go to the lower class, as argmax does).
  var best = 0u;
  for (var k = 1u; k < K; k++) { if (src[base + k] > src[base + best]) { best = k; } }
  dst[row * 2u] = lse - src[base + y];
  dst[row * 2u + 1u] = select(0.0, 1.0, best == y);
}

@compute @workgroup_size(256)
fn xent_backward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
                 @builtin(num_workgroups) nwg: vec3u) {
  let row = linear_id(wid, lid, nwg);
  if (row >= params.batch) { return; }
  let K = params.channels;
  let base = row * K;
  let y = labels[row];
  let m = row_max(base, K);
  let inv = 1.0 / row_sum_exp(base, K, m);
  for (var k = 0u; k < K; k++) {
    let p = exp(src[base + k] - m) * inv;
    dst[base + k] = params.scale * (p - select(0.0, 1.0, k == y));
  }
}

var<workgroup> loss_scratch: array<f32, 256>;
var<workgroup> correct_scratch: array<f32, 256>;

@compute @workgroup_size(256)
fn xent_summary(@builtin(local_invocation_id) lid: vec3u) {
  let t = lid.x;
  var loss = 0.0;
  var correct = 0.0;
  for (var row = t; row < params.batch; row += 256u) {
    loss += src[row * 2u];
    correct += src[row * 2u + 1u];
  }
  loss_scratch[t] = loss;
  correct_scratch[t] = correct;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (t < stride) {
      loss_scratch[t] += loss_scratch[t + stride];
      correct_scratch[t] += correct_scratch[t + stride];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    dst[0] = loss_scratch[0] / f32(params.batch);
    dst[1] = correct_scratch[0];
  }
}
