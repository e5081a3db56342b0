// Last-good-state guard of the trainer (src/train/guard.ts). Each step starts by checking the previous
// step's loss and global gradient norm (both still on the GPU) and, while every step so far was finite,
// copying the current parameters, BN statistics and optimiser moments into backup buffers. Once a step is
// non-finite the health flag stays 0 and the backups freeze at the state before that step, so the host can
// roll back exactly, even though it reads the metrics back several steps late.
//
//   guard_health:  health[0] = 1 (reset) when params.check_previous == 0; else
//                  health[0] = health[0] & finite(loss[0]) & finite(grad_stats[norm_index])
//   guarded_copy:  backups = sources where health[0] == 1 (vec4 per thread; up to four sources per dispatch,
//                  their backups one after another in one buffer)

// HealthParams and CopyParams are declared in src/train/trainer-guard.ts.

@group(1) @binding(0) var<uniform> health_params: HealthParams;

// Bit test instead of x != x or comparisons with infinity: compilers may assume floats are finite and fold
// those away; an all-ones exponent is NaN or ±Inf whatever the optimiser assumes.
fn is_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(1)
fn guard_health() {
  if (health_params.check_previous == 0u) {
    health_out[0] = 1u;
    return;
  }
  let finite = is_finite(loss[0]) && is_finite(grad_stats[health_params.norm_index]);
  if (!finite) {
    health_out[0] = 0u;
  }
}

@group(1) @binding(0) var<uniform> copy_params: CopyParams;

// One thread per vec4 of the backup buffer: the source whose backup covers it (the gaps of 256-byte alignment
// between backups belong to none and are left alone).
@compute @workgroup_size(256)
fn guarded_copy(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
                @builtin(num_workgroups) nwg: vec3u) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid.x;
  if (i >= copy_params.n4 || health_in[0] != 1u) {
    return;
  }
  if (i >= copy_params.start3 && i - copy_params.start3 < copy_params.count3) {
    dst[i] = src3[i - copy_params.start3];
  } else if (i >= copy_params.start2 && i - copy_params.start2 < copy_params.count2) {
    dst[i] = src2[i - copy_params.start2];
  } else if (i >= copy_params.start1 && i - copy_params.start1 < copy_params.count1) {
    dst[i] = src1[i - copy_params.start1];
  } else if (i >= copy_params.start0 && i - copy_params.start0 < copy_params.count0) {
    dst[i] = src0[i - copy_params.start0];
  }
}
