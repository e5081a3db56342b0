// Library: the one tiled GEMM main loop of the repository. C[M, N] = Σ_k A[m, k] · B[k, n] for every op that is
// a matrix product: dense conv forward / grad-input phases / grad-weight, the transposed conv's grad-weight,
// the gathered sparse conv forward / grad-input / grad-weight, and plain row-major matrices (matmul, and the
// stride-1 1×1 convs). The op file composed with it (src/gpu/shader.ts) supplies what differs, as hooks:
//
//   struct GemmOpState { ... }                      per-workgroup values the op's hooks need (any fields)
//   fn gemm_tile(wid: vec3u) -> GemmTile            this workgroup's tile: first row m0, first column n0, the
//                                                   k range [k_begin, k_end) (split-K: a slice of it), whether
//                                                   the workgroup has work (uniform: it may return early)
//   struct GemmRowA { ... }                         what the A loader needs of one row m (or, with
//                                                   A_RUNS_ALONG_M, of rows m .. m+3) that does not change
//                                                   along K: the row's decomposition (pixel, window origin,
//                                                   tap), so that no division by a row size is repeated
//   fn gemm_row_a(tile, m) -> GemmRowA              computed once per staged run, before the K loop
//   fn gemm_load_a(tile, row: GemmRowA, k) -> vec4f four A elements: A[m, k .. k+3], or with A_RUNS_ALONG_M
//                                                   A[m .. m+3, k] (the operand's contiguous axis); 0 outside
//   fn gemm_load_b(tile, k, n) -> vec4f             four B elements: B[k, n .. n+3], or with B_RUNS_ALONG_K
//                                                   B[k .. k+3, n]; 0 outside
//   fn gemm_store_row(tile, m, tx, acc: vec4f)      the epilogue of one accumulator row: acc[j] is C[m, n] at
//                                                   n = tile.n0 + tx + j·WG_N (rows and columns past the end
//                                                   are the hook's to skip)
//
// Tiling: a workgroup computes a TILE_M × TILE_N block with WG_M · WG_N = (TILE_M/4)·(TILE_N/4) threads, each
// owning a 4×4 register block: 4 consecutive rows (4·ty .. 4·ty+3) and 4 columns strided by WG_N (tx + j·WG_N,
// so that neighbouring threads write neighbouring channels). The reduction advances BK = 16 at a time through
// two shared tiles of vec4s stored k-major, laid out so that what a thread needs at one k is one vec4 of each:
//   tile_a[kk · WG_M + g] = A[m0 + 4g .. 4g+3, k0 + kk]           (the rows of thread row g)
//   tile_b[kk · WG_N + c] = B[k0 + kk, n0 + c + {0,1,2,3}·WG_N]   (the columns of thread column c)
// so the inner loop reads two vec4s per 16 FMAs. Loads come in runs of 4 along each operand's contiguous axis,
// so global reads are coalesced whatever the op; VEC_A / VEC_B tell the hooks that a run is one aligned vec4
// (the op's contiguous axis is a multiple of 4). Which runs a thread stages, and where they land in the shared
// tiles, does not change along K: it is computed once, before the loop. Tile and split-K policy: gemm.ts (which
// also checks that the tile sides are ones the staging divides evenly: 32 or 64).

const TM = 4u;
const TN = 4u;
const BK = 16u;
override TILE_M: u32 = 64u;
override TILE_N: u32 = 64u;
override WG_M: u32 = TILE_M / TM;
override WG_N: u32 = TILE_N / TN;
override THREADS: u32 = WG_M * WG_N;
// Shared tiles, in vec4s.
override TILE_A: u32 = BK * WG_M;
override TILE_B: u32 = BK * WG_N;
// Runs of 4 that each thread stages per BK step (BK · TILE / 4 elements over THREADS threads): BK / WG_N for A,
// BK / WG_M for B; 1 or 2 (tile sides of 32 or 64, checked by gemm.ts).
override RUNS_A: u32 = TILE_A / THREADS;
override RUNS_B: u32 = TILE_B / THREADS;
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

var<workgroup> tile_a: array<vec4f, TILE_A>;
var<workgroup> tile_b: array<vec4f, TILE_B>;

// One run a thread stages at every BK step: the operand's outer index within the tile (a row of A, a column of
// B), its k offset within the step, and where its 4 elements go: vec4 `slot` (+ j · `step` for element j),
// component `lane`.
struct StagedRun {
  outer: u32,
  k: u32,
  slot: u32,
  step: u32,
  lane: u32,
}

fn plan_run_a(e: u32) -> StagedRun {
  if (A_RUNS_ALONG_M) {
    // e = kk · WG_M + g: rows 4g .. 4g+3 at k offset kk, one whole vec4.
    let g = e % WG_M;
    let kk = e / WG_M;
    return StagedRun(4u * g, kk, kk * WG_M + g, 0u, 0u);
  }
  // e = row · (BK/4) + q: row `row`, k offsets 4q .. 4q+3 (one component of four k-consecutive vec4s).
  let row = e / (BK / 4u);
  let kq = (e % (BK / 4u)) * 4u;
  return StagedRun(row, kq, kq * WG_M + row / 4u, WG_M, row % 4u);
}

fn plan_run_b(e: u32) -> StagedRun {
  if (B_RUNS_ALONG_K) {
    // e = col · (BK/4) + q: column `col`, k offsets 4q .. 4q+3.
    let col = e / (BK / 4u);
    let kq = (e % (BK / 4u)) * 4u;
    return StagedRun(col, kq, kq * WG_N + col % WG_N, WG_N, col / WG_N);
  }
  // e = kk · WG_N + q: columns 4q .. 4q+3 at k offset kk. WG_N is a multiple of 4, so the four columns are
  // neighbouring thread columns (4q mod WG_N + j) with the same register index (4q / WG_N).
  let kk = e / WG_N;
  let nq = (e % WG_N) * 4u;
  return StagedRun(nq, kk, kk * WG_N + nq % WG_N, 1u, nq / WG_N);
}

fn stage_a(run: StagedRun, v: vec4f) {
  if (A_RUNS_ALONG_M) {
    tile_a[run.slot] = v;
  } else {
    tile_a[run.slot][run.lane] = v.x;
    tile_a[run.slot + run.step][run.lane] = v.y;
    tile_a[run.slot + 2u * run.step][run.lane] = v.z;
    tile_a[run.slot + 3u * run.step][run.lane] = v.w;
  }
}

fn stage_b(run: StagedRun, v: vec4f) {
  tile_b[run.slot][run.lane] = v.x;
  tile_b[run.slot + run.step][run.lane] = v.y;
  tile_b[run.slot + 2u * run.step][run.lane] = v.z;
  tile_b[run.slot + 3u * run.step][run.lane] = v.w;
}

// acc[i] += a[i] · b: one k of the thread's 4×4 block.
fn mac(acc: ptr<function, array<vec4f, 4>>, a: vec4f, b: vec4f) {
  (*acc)[0] += a.x * b;
  (*acc)[1] += a.y * b;
  (*acc)[2] += a.z * b;
  (*acc)[3] += a.w * b;
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
  // At most two runs per operand (tile sides of 32 or 64): held in plain variables, not arrays, so that no
  // backend has to index private memory; the second run is compiled out where RUNS_x is 1.
  let run_a0 = plan_run_a(lid);
  let run_a1 = plan_run_a(lid + THREADS);
  let row_a0 = gemm_row_a(tile, tile.m0 + run_a0.outer);
  let row_a1 = gemm_row_a(tile, tile.m0 + run_a1.outer);
  let run_b0 = plan_run_b(lid);
  let run_b1 = plan_run_b(lid + THREADS);
  let a_base = lid3.y;
  let b_base = lid3.x;
  var acc: array<vec4f, 4>;
  for (var k0 = tile.k_begin; k0 < tile.k_end; k0 += BK) {
    stage_a(run_a0, gemm_load_a(tile, row_a0, k0 + run_a0.k));
    if (RUNS_A > 1u) {
      stage_a(run_a1, gemm_load_a(tile, row_a1, k0 + run_a1.k));
    }
    stage_b(run_b0, gemm_load_b(tile, k0 + run_b0.k, tile.n0 + run_b0.outer));
    if (RUNS_B > 1u) {
      stage_b(run_b1, gemm_load_b(tile, k0 + run_b1.k, tile.n0 + run_b1.outer));
    }
    workgroupBarrier();
    // BK = 16 steps, unrolled by four.
    for (var kk = 0u; kk < BK; kk += 4u) {
      mac(&acc, tile_a[kk * WG_M + a_base], tile_b[kk * WG_N + b_base]);
      mac(&acc, tile_a[(kk + 1u) * WG_M + a_base], tile_b[(kk + 1u) * WG_N + b_base]);
      mac(&acc, tile_a[(kk + 2u) * WG_M + a_base], tile_b[(kk + 2u) * WG_N + b_base]);
      mac(&acc, tile_a[(kk + 3u) * WG_M + a_base], tile_b[(kk + 3u) * WG_N + b_base]);
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    gemm_store_row(tile, tile.m0 + 4u * lid3.y + i, lid3.x, acc[i]);
  }
}
