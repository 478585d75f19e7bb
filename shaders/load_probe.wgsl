// Load-form probe (scripts/bench/lib/loadProbe.ts, `npm run bench:linear -- --probe`): streams
// the same bytes through one way of loading them, so the forms can be timed side by side.
//   ROWS (default): one invocation per weight row looping over its 16-byte chunks, as the batch-1
//        linear kernel does (PAIR: two adjacent chunks per iteration; ROWS4: one invocation per 4
//        weight rows, by rows or in groups of 4 rows);
//   STREAM: consecutive invocations read consecutive chunks in a grid-stride loop, as the roofline
//        probe (stream.wgsl) does.
// The source (one define): BUF storage buffer array<vec4<u32>> (BUFU32: array<u32>, 4 loads per chunk); BUF64K / UBO64K the first 64 KiB
// of it as storage / uniform buffer, chunk i read at i % 4096 (cache-resident: the cost of the
// load instructions alone); TEX4 / TEX2 / TEX1 a texture_2d_array<u32> (rgba32uint, rg32uint,
// r32uint: 1, 2 or 4 texels per chunk) whose texture row r holds weight row r (layer r / height);
// STEX4 the rgba32uint texture as a read-only storage texture.
// VERTEX: a render pipeline instead, the bytes a vertex buffer of 16 uint32x4 attributes (256
// bytes) per vertex, drawn as points: llvmpipe's vertex fetch (its draw module) does the loads.
// Each invocation XORs what it reads; the result is written when params.check is 1 (the test
// compares it with the CPU's) or when it equals a value real data never gives (keeps the loads).
struct Params {
  chunks: u32, // ROWS: 16-byte chunks per weight row; STREAM: chunks in all
  rows: u32,   // ROWS: weight rows
  height: u32, // TEX*: texture rows per array layer
  width: u32,  // TEX*: texels per texture row
  check: u32,  // 1: write every invocation's XOR to dst
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
#if VERTEX
struct Chunks {
#unroll A 16
  @location(${A}) c${A}: vec4<u32>,
#endunroll
}

struct Point {
  @builtin(position) position: vec4<f32>,
  @location(0) @interpolate(flat) xor: u32,
}

// check: vertex i draws its XOR at pixel (i % width, i / width) of a width x height r32uint target;
// otherwise the point lies outside the viewport (clipped) unless its XOR is the magic value.
@vertex
fn vs(v: Chunks, @builtin(vertex_index) i: u32) -> Point {
  var s = vec4<u32>(0u);
#unroll A 16
  s ^= v.c${A};
#endunroll
  let t = s.x ^ s.y ^ s.z ^ s.w;
  var p = vec2<f32>(2.0, 2.0);
  if (params.check == 1u) {
    let size = vec2<f32>(f32(params.width), f32(params.height));
    let px = (vec2<f32>(f32(i % params.width), f32(i / params.width)) + 0.5) / size;
    p = vec2<f32>(2.0 * px.x - 1.0, 1.0 - 2.0 * px.y);
  } else if (t == 0x9e3779b9u) {
    p = vec2<f32>(0.0);
  }
  return Point(vec4<f32>(p, 0.0, 1.0), t);
}

@fragment
fn fs(in: Point) -> @location(0) vec4<u32> {
  return vec4<u32>(in.xor, 0u, 0u, 0u);
}
#else
@group(0) @binding(2) var<storage, read_write> dst: array<u32>; // [invocations] u32

#if BUF
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>; // [rows, chunks]
fn chunkAt(i: u32, row: u32, c: u32) -> vec4<u32> {
  return src[i];
}
#endif
#if BUFU32
@group(0) @binding(1) var<storage, read> src: array<u32>; // [rows, chunks, 4]: one word per load
fn chunkAt(i: u32, row: u32, c: u32) -> vec4<u32> {
  return vec4<u32>(src[4u * i], src[4u * i + 1u], src[4u * i + 2u], src[4u * i + 3u]);
}
#endif
#if BUF64K
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>; // [4096]
fn chunkAt(i: u32, row: u32, c: u32) -> vec4<u32> {
  return src[i % 4096u];
}
#endif
#if UBO64K
@group(0) @binding(1) var<uniform> src: array<vec4<u32>, 4096>; // 64 KiB
fn chunkAt(i: u32, row: u32, c: u32) -> vec4<u32> {
  return src[i % 4096u];
}
#endif
#if TEX4
@group(0) @binding(1) var src: texture_2d_array<u32>; // rgba32uint [layers, height, chunks]
#endif
#if STEX4
@group(0) @binding(1) var src: texture_storage_2d_array<rgba32uint, read>; // [layers, height, chunks]
#endif
#if TEX2
@group(0) @binding(1) var src: texture_2d_array<u32>; // rg32uint [layers, height, 2 · chunks]
#endif
#if TEX1
@group(0) @binding(1) var src: texture_2d_array<u32>; // r32uint [layers, height, 4 · chunks]
#endif
#if TEXTURE
fn texel(x: u32, y: u32, layer: u32) -> vec4<u32> {
#if STEX4
  return textureLoad(src, vec2<u32>(x, y), layer);
#else
  return textureLoad(src, vec2<u32>(x, y), layer, 0);
#endif
}

fn chunkAt(i: u32, row: u32, c: u32) -> vec4<u32> {
#if STREAM
  // Chunk i of the whole texture (row-major): its texel, row and layer.
  let perLayer = params.width * params.height;
  let t = i % perLayer;
  return texel(t % params.width, t / params.width, i / perLayer);
#else
  let y = row % params.height;
  let layer = row / params.height;
#if TEX2
  return vec4<u32>(texel(2u * c, y, layer).xy, texel(2u * c + 1u, y, layer).xy);
#else
#if TEX1
  return vec4<u32>(texel(4u * c, y, layer).x, texel(4u * c + 1u, y, layer).x, texel(4u * c + 2u, y, layer).x, texel(4u * c + 3u, y, layer).x);
#else
  return texel(c, y, layer);
#endif
#endif
#endif
}
#endif

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  var s = vec4<u32>(0u);
#if STREAM
  let stride = nwg.x * ${WG}u;
  for (var i = gid.x; i < params.chunks; i += stride) {
    s ^= chunkAt(i, 0u, 0u);
  }
#else
  let row = gid.x;
  if (row >= params.rows) {
    return;
  }
  let base = row * params.chunks;
#if ROWS4
  // The invocation's `row` is 4 weight rows of chunks / 4 chunks each, read chunk by chunk as the
  // batch-1 f16 tile's lane reads its 4 weight rows: by rows, 4 places 16 bytes each per chunk
  // (ROWS4X); in groups of 4 rows (weights.ts repackHalfRowGroups), 64 contiguous bytes (ROWS4G).
  let per = params.chunks / 4u; // chunks is a multiple of 4
  for (var c = 0u; c < per; c++) {
#if ROWS4X
    s ^= chunkAt(base + c, row, c) ^ chunkAt(base + per + c, row, c) ^ chunkAt(base + 2u * per + c, row, c) ^ chunkAt(base + 3u * per + c, row, c);
#else
    s ^= chunkAt(base + 4u * c, row, c) ^ chunkAt(base + 4u * c + 1u, row, c) ^ chunkAt(base + 4u * c + 2u, row, c) ^ chunkAt(base + 4u * c + 3u, row, c);
#endif
  }
#else
#if PAIR
  for (var c = 0u; c < params.chunks; c += 2u) { // chunks is even
    s ^= chunkAt(base + c, row, c) ^ chunkAt(base + c + 1u, row, c + 1u);
  }
#else
  for (var c = 0u; c < params.chunks; c++) {
    s ^= chunkAt(base + c, row, c);
  }
#endif
#endif
#endif
  let t = s.x ^ s.y ^ s.z ^ s.w;
  if (params.check == 1u || t == 0x9e3779b9u) {
    dst[gid.x] = t;
  }
}
#endif
