// Fragment of attention.wgsl and attention_dims.wgsl: their parameters, defines and bindings (one
// bind group layout for both).
struct Params {
  numHeads: u32,
  numKvHeads: u32,
  headDim: u32,   // elements of a head in q and out
  scale: f32,     // headDim^-1/2, or query_pre_attn_scalar^-1/2
  window: u32,    // positions attended, the row's own included; 0 = all
  softcap: f32,   // SOFTCAP: the cap
  qStride: u32,   // elements between rows of q's buffer
  qOffset: u32,   // column of q's element 0
  outStride: u32, // elements between rows of out's buffer
  outOffset: u32, // column of out's element 0
  kOffset: u32,   // FUSED: column of k's element 0 in q's buffer
  vOffset: u32,   // FUSED: column of v's element 0 in q's buffer
  rotaryDim: u32, // FUSED: leading elements of a head that rotate (even, <= headDim)
  _pad0: u32,
}

const BLOCK = ${BLOCK}u; // KV_BLOCK_SIZE
const WG = ${WG}u; // invocations per workgroup (32 on GPUs, 8 on CPU adapters: one SIMD group)
const HD4 = ${HD4}u; // vec4s per (position, head) in the cache: headDim rounded up to 4, / 4
const GQ = ${GQ}u; // query heads per workgroup (all of one kv group: each cached k and v loaded once for them)

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> rowInfo: array<RowInfo>; // [rows]
@group(0) @binding(3) var<storage, read> blockTables: array<u32>;
@group(0) @binding(4) var<storage, read> q: array<f32>;            // [rows, qStride] f32 (FUSED: q | k | v columns)
#if FUSED
@group(0) @binding(5) var<storage, read_write> kCache: array<vec4<f32>>; // [numBlocks, numKvHeads, BLOCK, HD4] f32
@group(0) @binding(6) var<storage, read_write> vCache: array<vec4<f32>>; // same layout
#else
@group(0) @binding(5) var<storage, read> kCache: array<vec4<f32>>; // [numBlocks, numKvHeads, BLOCK, HD4] f32
@group(0) @binding(6) var<storage, read> vCache: array<vec4<f32>>; // same layout
#endif
@group(0) @binding(7) var<storage, read_write> out: array<f32>;    // [rows, outStride] f32
#if FUSED
@group(0) @binding(8) var<storage, read> ropeTable: array<vec2<f32>>; // [positions, rotaryDim / 2] (cos, sin)

const HD = ${HD}u; // FUSED: headDim
const HDP = HD4 * 4u; // headDim rounded up to 4
const RH = ${ROT_HALF}u; // FUSED: rotaryDim / 2
#endif

// A score soft-capped (SOFTCAP: cap · tanh(s / cap), Gemma 2), or as it is.
fn softcapped(s: f32) -> f32 {
#if SOFTCAP
  return params.softcap * tanh(clamp(s / params.softcap, -15.0, 15.0));
#else
  return s;
#endif
}
