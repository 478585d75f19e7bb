// Fragment of linear.wgsl: its Params and bindings (but LoRA's: linear_lora.wgsl), and vec(i).
// W (matrix.wgsl): [rows, k], rows zero-padded to k (a multiple of 8) so x's padding columns add
// nothing; x: [rows, xStride] f32 (Q8X: Q8_0 blocks); y: [rows, yStride] f32; vecs: norm gain and bias.
struct Params {
  n: u32,          // outputs of this chunk (GLU: products)
  k: u32,          // input features (elements, padded; multiple of 8)
  xStride: u32,    // elements between rows of x (multiple of 4)
  yStride: u32,    // elements between rows of y
  yOffset: u32,    // column of y receiving this chunk's output 0
  useOutRows: u32, // 1: row count is step.outRows (lm_head), 0: step.rows
  xOffset: u32,    // column of x holding input feature 0 (multiple of 4)
  softcap: f32,    // SOFTCAP: the cap
  accumulate: u32, // 1: y += ..., 0: y = ... (a parameter, not a define: fewer variants to compile)
  wRows: u32,      // weight rows in this chunk
  rowStart: u32,   // fused column (weight row of the whole matrix) of this chunk's row 0
  normWidth: u32,  // NORM: elements averaged (the unpadded width)
  eps: f32,        // NORM: variance epsilon
  normAt: u32,     // NORM: index of gain[0] in vecs (multiple of 4)
  biasAt: u32,     // BIAS: index of bias[0] in vecs
  gate: u32,       // GLU: weight row of gate output 0
  up: u32,         // GLU: weight row of up output 0
  infoStride: u32, // LORA: u32 words of info per slot
  rank0: u32,      // LORA: word of member 0's rank in a slot's info (members 1, 2: rank1, rank2)
  rank1: u32,
  rank2: u32,
  col1: u32,       // LORA: first fused column of member 1 (member 2: col2; past the end when absent)
  col2: u32,
  vStride: u32,    // LORA: elements between rows of v (multiple of 4)
  vMember: u32,    // LORA: elements of v per member (maxRank rounded up to B's rank rounding: 4, 8 with LORA_B8)
  bSlot: u32,      // LORA: elements of B per slot (vMember · fused columns)
  tableAt: u32,    // LORA_PAGES: word of a slot's info where its run table starts
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
#include "matrix.wgsl"
#if Q8X
@group(0) @binding(3) var<storage, read> x: array<u32>; // [rows, k / 4 + k / 32]: Q8_0 blocks of x (quant_x.wgsl)
// The 4 int8 of a word (element j in byte j) as f32.
fn q8Values(w: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}
#else
#if XSHUF
@group(0) @binding(3) var<storage, read> x: array<f32>; // [rows, xStride] f32
fn xAt(i: u32) -> f32 {
  return x[i];
}
#else
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>; // [rows, xStride / 4] f32
fn xAt(i: u32) -> f32 {
  return x[i / 4u][i % 4u];
}
#endif
#endif
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [rows, yStride] f32
#if XSHUF
// One f32 per load: on lavapipe each 32-bit component a lane loads costs alike, and vec(i) of a
// vec4 array loads all four.
@group(0) @binding(5) var<storage, read> vecs: array<f32>; // norm gain and bias, f32
#else
@group(0) @binding(5) var<storage, read> vecs: array<vec4<f32>>; // norm gain and bias, f32
#endif

fn vec(i: u32) -> f32 {
#if XSHUF
  return vecs[i];
#else
  return vecs[i / 4u][i % 4u];
#endif
}
