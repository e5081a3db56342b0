// Library (no entry points): workgroup indexing for 1-D problems of any size. The host spreads more than
// 65535 workgroups over x and y (grid1d in src/gpu/runtime.ts), so the linear workgroup number is
// wid.y · nwg.x + wid.x; threads past the end of the problem must return (every caller bounds-checks).

// The linear number of this workgroup in a grid1d grid.
fn grid_workgroup(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// The linear index of this thread in a grid1d grid of 256-thread workgroups.
fn grid_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return grid_workgroup(wid, nwg) * 256u + lid;
}

// (row, channel) of element i of a row-major [rows, channels] array.
fn row_and_channel(i: u32, channels: u32) -> vec2u {
  let row = i / channels;
  return vec2u(row, i - row * channels);
}
