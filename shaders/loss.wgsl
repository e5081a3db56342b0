// The SparK reconstruction loss (spark-spec §4) on NHWC images, its gradient and the visualisation composite.
//
// Layout: input x (the unmasked, normalised image) and the decoder output rec are NHWC [B, S, S, 3] (the
// engine's dense layout; NCHW fixtures are converted once at the edge). The mask is [B, g, g] u32 at cell
// resolution (1 = visible), g = S / r, and patch l = (b·g + cy)·g + cx covers the r×r×3 values of a cell.
//
//   patch_stats   one workgroup per patch: μ = mean of its 3r² values, σ = sqrt(Σ(x−μ)²/(3r²−1) + 1e-6),
//                 target t = (x − μ)/σ (or x without per-patch normalisation), ℓ = mean (rec − t)²;
//                 writes stats[l] = (μ, σ, ℓ, w) with w = 1 − visible (masked-only) or 1 (all patches).
//   loss_total    one workgroup: loss = Σ ℓ·w / (Σ w + 1e-8) in a fixed tree order; out = (loss, Σ w).
//   loss_grad     d rec = grad_scale · 2 (rec − t) / (3r²) · w / (Σ w + 1e-8); no gradient flows into t.
//   composite     visible pixels from x; masked ones = rec·σ + μ (the prediction de-normalised with the true
//                 patch statistics), or rec itself without normalisation.

// The statistics buffer: [0] = loss, [1] = Σ w, padding to STATS_OFFSET floats (so the loss is a bindable
// 256-byte-aligned view), then (μ, σ, ℓ, w) per patch. Every entry point uses a prefix of the bindings (the
// runtime numbers buffers by position), so binding 3 is the mask for patch_stats and the statistics for
// loss_grad/composite; composite takes the mask at binding 4.
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> rec: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read> composite_mask: array<u32>;
@group(1) @binding(0) var<uniform> p: LossParams;  // declared in src/train/loss.ts

const STATS_OFFSET = 64u;

const THREADS = 256u;
const PATCH_EPS = 1e-6;
const LOSS_EPS = 1e-8;

var<workgroup> partial: array<f32, THREADS>;

// Fixed-order tree sum over the workgroup; every thread gets the total.
fn workgroup_sum(value: f32, lid: u32) -> f32 {
  partial[lid] = value;
  workgroupBarrier();
  for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      partial[lid] += partial[lid + stride];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

// Element k of patch l (k over r·r·3 in NHWC order: row, column, channel) → index into the image.
fn patch_element(l: u32, k: u32) -> u32 {
  let cells = p.grid * p.grid;
  let b = l / cells;
  let cy = (l % cells) / p.grid;
  let cx = l % p.grid;
  let c = k % 3u;
  let col = (k / 3u) % p.patch_side;
  let row = k / (3u * p.patch_side);
  return ((b * p.size + cy * p.patch_side + row) * p.size + cx * p.patch_side + col) * 3u + c;
}

fn patch_weight(l: u32) -> f32 {
  if (p.masked_only == 0u) {
    return 1.0;
  }
  return select(1.0, 0.0, mask[l] != 0u);
}

fn target_value(v: f32, s: vec4f) -> f32 {
  if (p.normalize != 0u) {
    return (v - s.x) / s.y;
  }
  return v;
}

// out = the statistics buffer.
@compute @workgroup_size(THREADS)
fn patch_stats(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let l = wid.y * nwg.x + wid.x;
  let patches = p.batch * p.grid * p.grid;
  if (l >= patches) {
    return;
  }
  let n = 3u * p.patch_side * p.patch_side;
  var sum = 0.0;
  for (var k = lid; k < n; k += THREADS) {
    sum += x[patch_element(l, k)];
  }
  let mean = workgroup_sum(sum, lid) / f32(n);
  var squares = 0.0;
  for (var k = lid; k < n; k += THREADS) {
    let d = x[patch_element(l, k)] - mean;
    squares += d * d;
  }
  // n = 1 (a 1-pixel patch of one channel cannot happen: n ≥ 3), so n − 1 > 0.
  let sigma = sqrt(workgroup_sum(squares, lid) / f32(n - 1u) + PATCH_EPS);
  let s = vec4f(mean, sigma, 0.0, 0.0);
  var err = 0.0;
  for (var k = lid; k < n; k += THREADS) {
    let e = patch_element(l, k);
    let d = rec[e] - target_value(x[e], s);
    err += d * d;
  }
  let loss = workgroup_sum(err, lid) / f32(n);
  if (lid == 0u) {
    let base = STATS_OFFSET + 4u * l;
    out[base] = mean;
    out[base + 1u] = sigma;
    out[base + 2u] = loss;
    out[base + 3u] = patch_weight(l);
  }
}

// out = the statistics buffer: reads the per-patch entries, writes (loss, Σ w) at its start.
@compute @workgroup_size(THREADS)
fn loss_total(@builtin(local_invocation_index) lid: u32) {
  let patches = p.batch * p.grid * p.grid;
  var weighted = 0.0;
  var weights = 0.0;
  for (var l = lid; l < patches; l += THREADS) {
    let base = STATS_OFFSET + 4u * l;
    weighted += out[base + 2u] * out[base + 3u];
    weights += out[base + 3u];
  }
  let total = workgroup_sum(weighted, lid);
  let count = workgroup_sum(weights, lid);
  if (lid == 0u) {
    out[0] = total / (count + LOSS_EPS);
    out[1] = count;
  }
}

fn patch_stats_at(l: u32) -> vec4f {
  let base = STATS_OFFSET + 4u * l;
  return vec4f(stats[base], stats[base + 1u], stats[base + 2u], stats[base + 3u]);
}

fn element_patch(i: u32) -> u32 {
  let pixel = i / 3u;
  let col = pixel % p.size;
  let t = pixel / p.size;
  let row = t % p.size;
  let b = t / p.size;
  return (b * p.grid + row / p.patch_side) * p.grid + col / p.patch_side;
}

// out = d rec.
@compute @workgroup_size(THREADS)
fn loss_grad(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = (wid.y * nwg.x + wid.x) * THREADS + lid;
  if (i >= p.batch * p.size * p.size * 3u) {
    return;
  }
  let s = patch_stats_at(element_patch(i));
  let n = f32(3u * p.patch_side * p.patch_side);
  let scale = p.grad_scale * 2.0 * s.w / (n * (stats[1] + LOSS_EPS));
  out[i] = scale * (rec[i] - target_value(x[i], s));
}

// out = the composite image (normalised space, NHWC).
@compute @workgroup_size(THREADS)
fn composite(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let i = (wid.y * nwg.x + wid.x) * THREADS + lid;
  if (i >= p.batch * p.size * p.size * 3u) {
    return;
  }
  let l = element_patch(i);
  if (composite_mask[l] != 0u) {
    out[i] = x[i];
    return;
  }
  let s = patch_stats_at(l);
  if (p.normalize != 0u) {
    out[i] = rec[i] * s.y + s.x;
  } else {
    out[i] = rec[i];
  }
}
