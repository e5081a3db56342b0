// Elementwise kernels. One thread per element over a 2-D grid of 256-thread workgroups (the grid is split
// over x and y so that more than 65535 workgroups can be addressed).
//   add:        out = a + b
//   mul:        out = a * b
//   scale_add:  out = alpha * a + beta * b
//   relu/relu6/gelu:            out = f(a)
//   relu_backward etc.:         out = b * f'(a)   (a = the forward input, b = dy)

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(1) @binding(0) var<uniform> params: EltwiseParams;  // declared in src/engine/eltwise.ts

// erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit): float32 round-off dominates, so GELU
// matches PyTorch's exact-erf nn.GELU to float precision. tanh-GELU would differ by up to ~1e-3.
fn erf_approx(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  let r = 1.0 - t * exp(poly);
  return select(-r, r, x >= 0.0);
}

fn gelu(x: f32) -> f32 {
  return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752));
}

fn gelu_grad(x: f32) -> f32 {
  let cdf = 0.5 * (1.0 + erf_approx(x * 0.70710678118654752));
  let pdf = 0.39894228040143268 * exp(-0.5 * x * x);
  return cdf + x * pdf;
}

@compute @workgroup_size(256)
fn add(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i < params.n) { out[i] = a[i] + b[i]; }
}

@compute @workgroup_size(256)
fn mul(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i < params.n) { out[i] = a[i] * b[i]; }
}

@compute @workgroup_size(256)
fn scale_add(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i < params.n) { out[i] = params.alpha * a[i] + params.beta * b[i]; }
}

@compute @workgroup_size(256)
fn relu(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i < params.n) { out[i] = max(a[i], 0.0); }
}

@compute @workgroup_size(256)
fn relu6(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i < params.n) { out[i] = clamp(a[i], 0.0, 6.0); }
}

@compute @workgroup_size(256)
fn gelu_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i < params.n) { out[i] = gelu(a[i]); }
}

// Backward kernels: the gradient passes where the forward input was in the linear region (PyTorch's
// convention: relu' (0) = 0, relu6' is 1 strictly inside (0, 6)).
@compute @workgroup_size(256)
fn relu_backward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i < params.n) { out[i] = select(0.0, b[i], a[i] > 0.0); }
}

@compute @workgroup_size(256)
fn relu6_backward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i < params.n) { out[i] = select(0.0, b[i], a[i] > 0.0 && a[i] < 6.0); }
}

@compute @workgroup_size(256)
fn gelu_backward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = grid_index(wid, nwg, lid.x);
  if (i < params.n) { out[i] = b[i] * gelu_grad(a[i]); }
}
