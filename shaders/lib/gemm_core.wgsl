// Library: the one tiled GEMM main loop of the repository. C[M, N] = Σ_k A[m, k] · B[k, n] for every op that is
// a matrix product: dense conv forward / grad-input phases / grad-weight, the transposed conv's grad-weight,
// the gathered sparse conv forward / grad-input / grad-weight, and plain row-major matrices (matmul, and the
// stride-1 1×1 convs). The op file composed with it (src/gpu/shader.ts) supplies what differs, as hooks:
//
//   struct GemmOpState { ... }                      per-workgroup values the op's hooks need (any fields)
//   fn gemm_tile(wid: vec3u) -> GemmTile            this workgroup's tile: first row m0, first column n0, the
//                                                   k range [k_begin, k_end) (split-K: a slice of it), whether
//                                                   the workgroup has work (uniform: it may return early)
//   fn gemm_load_a(tile, m, k) -> vec4f             four A elements: A[m, k .. k+3], or with A_RUNS_ALONG_M
//                                                   A[m .. m+3, k] (the operand's contiguous axis); 0 outside
//   fn gemm_load_b(tile, k, n) -> vec4f             four B elements: B[k, n .. n+3], or with B_RUNS_ALONG_K
//                                                   B[k .. k+3, n]; 0 outside
//   fn gemm_store_row(tile, m, tx, acc: vec4f)      the epilogue of one accumulator row: acc[j] is C[m, n] at
//                                                   n = tile.n0 + tx + j·WG_N (rows and columns past the end
//                                                   are the hook's to skip)
//
// Tiling: a workgroup computes a TILE_M × TILE_N block with (TILE_M/4)·(TILE_N/4) threads, each owning a 4×4
// register block (rows strided by WG_M, columns by WG_N so that neighbouring threads write neighbouring
// channels). The reduction advances BK = 16 at a time through two shared tiles stored k-major ([BK][TILE_M],
// [BK][TILE_N]) so the inner loop reads broadcasts and contiguous runs. Loads come in runs of 4 along each
// operand's contiguous axis, so global reads are coalesced whatever the op; VEC_A / VEC_B tell the hooks that
// a run is one aligned vec4 (the op's contiguous axis is a multiple of 4). Tile and split-K policy: gemm.ts.

const TM = 4u;
const TN = 4u;
const BK = 16u;
override TILE_M: u32 = 64u;
override TILE_N: u32 = 64u;
override WG_M: u32 = TILE_M / TM;
override WG_N: u32 = TILE_N / TN;
override THREADS: u32 = WG_M * WG_N;
override TILE_A: u32 = BK * TILE_M;
override TILE_B: u32 = BK * TILE_N;
// The axis along which the op's hooks return runs of 4 (see above).
override A_RUNS_ALONG_M: bool = false;
override B_RUNS_ALONG_K: bool = false;
// Whole-vec4 operand loads (read by the hooks).
override VEC_A: bool = false;
override VEC_B: bool = false;

struct GemmTile {
  m0: u32,
  n0: u32,
  k_begin: u32,
  k_end: u32,
  has_work: bool,
  op: GemmOpState,
}

var<workgroup> tile_a: array<f32, TILE_A>;
var<workgroup> tile_b: array<f32, TILE_B>;

fn stage_a(tile: GemmTile, k0: u32, lid: u32) {
  for (var e = lid; e < TILE_A / 4u; e += THREADS) {
    if (A_RUNS_ALONG_M) {
      let kk = e / (TILE_M / 4u);
      let mq = (e % (TILE_M / 4u)) * 4u;
      let v = gemm_load_a(tile, tile.m0 + mq, k0 + kk);
      for (var j = 0u; j < 4u; j++) {
        tile_a[kk * TILE_M + mq + j] = v[j];
      }
    } else {
      let row = e / (BK / 4u);
      let kq = (e % (BK / 4u)) * 4u;
      let v = gemm_load_a(tile, tile.m0 + row, k0 + kq);
      for (var j = 0u; j < 4u; j++) {
        tile_a[(kq + j) * TILE_M + row] = v[j];
      }
    }
  }
}

fn stage_b(tile: GemmTile, k0: u32, lid: u32) {
  for (var e = lid; e < TILE_B / 4u; e += THREADS) {
    if (B_RUNS_ALONG_K) {
      let nn = e / (BK / 4u);
      let kq = (e % (BK / 4u)) * 4u;
      let v = gemm_load_b(tile, k0 + kq, tile.n0 + nn);
      for (var j = 0u; j < 4u; j++) {
        tile_b[(kq + j) * TILE_N + nn] = v[j];
      }
    } else {
      let kk = e / (TILE_N / 4u);
      let nq = (e % (TILE_N / 4u)) * 4u;
      let v = gemm_load_b(tile, k0 + kk, tile.n0 + nq);
      for (var j = 0u; j < 4u; j++) {
        tile_b[kk * TILE_N + nq + j] = v[j];
      }
    }
  }
}

// One BK step of the register-blocked product of the two shared tiles.
fn mac_tile(tx: u32, ty: u32, acc: ptr<function, array<vec4f, 4>>) {
  for (var kk = 0u; kk < BK; kk++) {
    let bo = kk * TILE_N + tx;
    let bv = vec4f(tile_b[bo], tile_b[bo + WG_N], tile_b[bo + 2u * WG_N], tile_b[bo + 3u * WG_N]);
    let ao = kk * TILE_M + ty;
    (*acc)[0] += tile_a[ao] * bv;
    (*acc)[1] += tile_a[ao + WG_M] * bv;
    (*acc)[2] += tile_a[ao + 2u * WG_M] * bv;
    (*acc)[3] += tile_a[ao + 3u * WG_M] * bv;
  }
}

@compute @workgroup_size(WG_N, WG_M)
fn gemm_main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid3: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let tile = gemm_tile(wid);
  if (!tile.has_work) {
    return;
  }
  var acc: array<vec4f, 4>;
  for (var k0 = tile.k_begin; k0 < tile.k_end; k0 += BK) {
    stage_a(tile, k0, lid);
    stage_b(tile, k0, lid);
    workgroupBarrier();
    mac_tile(lid3.x, lid3.y, &acc);
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    gemm_store_row(tile, tile.m0 + lid3.y + i * WG_M, lid3.x, acc[i]);
  }
}
