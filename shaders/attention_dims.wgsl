// Decode attention (FUSED passes, every sequence one row: RoPE and the KV store of the row's own
// position included, as in attention.wgsl) on CPU adapters with 8-wide subgroups: one workgroup of
// one subgroup per (row, GQ query heads of a kv group), its lanes splitting each head's dimensions
// instead of the positions. Lane i holds the vec4s c = i, i + 8, ... (T of them) of q, of each k and
// v and of the output; rotate_half pairs vec4 c with c + RH / 4, the same lane's (headDim a multiple
// of 32 and rotaryDim of 64: attentionOp checks). Every lane walks every position in turn: a score is the
// lanes' partial dot products summed by a butterfly of shuffles, the same bits on every lane, so the
// online softmax runs in step on all of them and each accumulates its own part of the output.
// Against attention.wgsl's SGBCAST (positions split over the lanes): nothing is broadcast (q, the
// RoPE table's row, the row's own k and v are each loaded once, by the lane that uses them) and
// nothing is merged at the end, a fixed cost per workgroup that, at a short decode context (a few
// positions per lane), took more than the positions themselves; each position costs GQ
// butterflies of 3 shuffles instead.
enable subgroups;
#include "step.wgsl"
#include "attention_bindings.wgsl"
#include "butterfly.wgsl"

const T = ${LANE_VEC4}u; // vec4s of a head per lane: headDim / 32
const TR = ${ROT_VEC4}u; // rotaryDim / 64: of which the first TR rotate with the lane's vec4s TR..2 TR - 1 (the rest: unrotated)

// The lane's vec4s of one head of row r's q | k | v columns from `at` (a head's element 0), rotated
// (rotate_half with cos, sin `c`, `sn` of the lane's pairs), as attention.wgsl's rotateHalf
// computes each element.
fn loadRotated(at: u32, lane: u32, c: array<vec4<f32>, TR>, sn: array<vec4<f32>, TR>) -> array<vec4<f32>, T> {
  var a: array<vec4<f32>, T>;
#unroll U LANE_VEC4
  {
    let e = at + (lane + ${U}u * 8u) * 4u;
    a[${U}u] = vec4<f32>(q[e], q[e + 1u], q[e + 2u], q[e + 3u]);
  }
#endunroll
  var r = a;
#unroll U ROT_VEC4
  r[${U}u] = a[${U}u] * c[${U}u] + a[${U}u + TR] * -sn[${U}u];
  r[${U}u + TR] = a[${U}u + TR] * c[${U}u] + a[${U}u] * sn[${U}u];
#endunroll
  return r;
}

// Head g's score of a position (the lanes' partial dot products of q and k, summed), soft-capped:
// the same bits on every lane.
fn headScore(qv: ptr<function, array<vec4<f32>, T * GQ>>, k: array<vec4<f32>, T>, g: u32) -> f32 {
  var s = 0.0;
#unroll U LANE_VEC4
  s += dot((*qv)[g * T + ${U}u], k[${U}u]);
#endunroll
  return softcapped(butterflySum(s));
}

// A head's online softmax after one more position of score s: running max m and sum l, the factor
// alpha its accumulator is rescaled by (exactly 1 while the max stands) and the position's weight p.
struct Online {
  m: f32,
  l: f32,
  alpha: f32,
  p: f32,
}

fn online(s: f32, m: f32, l: f32) -> Online {
  var o = Online(m, l, 1.0, 0.0);
  if (s > m) {
    o.alpha = exp(m - s);
    o.m = s;
    o.l = l * o.alpha;
  }
  o.p = exp(s - o.m);
  o.l += o.p;
  return o;
}

@compute @workgroup_size(8)
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let r = wg.x;
  let h = wg.y * GQ; // the workgroup's first query head
  if (r >= step.rows || h >= params.numHeads) {
    return; // uniform per workgroup
  }
  let info = rowInfo[r];
  var first = 0u;
  if (params.window > 0u && info.pos + 1u > params.window) {
    first = info.pos + 1u - params.window;
  }
  let group = params.numHeads / params.numKvHeads;
  let kvh = h / group;
  // cos, sin of the pairs of the lane's rotating vec4s.
  var c: array<vec4<f32>, TR>;
  var sn: array<vec4<f32>, TR>;
#unroll U ROT_VEC4
  {
    let d = info.pos * RH + (lane + ${U}u * 8u) * 4u;
    let p0 = ropeTable[d];
    let p1 = ropeTable[d + 1u];
    let p2 = ropeTable[d + 2u];
    let p3 = ropeTable[d + 3u];
    c[${U}u] = vec4<f32>(p0.x, p1.x, p2.x, p3.x);
    sn[${U}u] = vec4<f32>(p0.y, p1.y, p2.y, p3.y);
  }
#endunroll
  let row = r * params.qStride;
  var qv: array<vec4<f32>, T * GQ>; // q times the scale
#unroll G GQ
  {
    let qr = loadRotated(row + params.qOffset + (h + ${G}u) * HD, lane, c, sn);
#unroll U LANE_VEC4
    qv[${G}u * T + ${U}u] = qr[${U}u] * params.scale;
#endunroll
  }
#endunroll
  // The row's own k (rotated) and v, stored for later steps by the workgroup of the kv group's first head.
  let kSelf = loadRotated(row + params.kOffset + kvh * HD, lane, c, sn);
  var vSelf: array<vec4<f32>, T>;
#unroll U LANE_VEC4
  {
    let e = row + params.vOffset + kvh * HD + (lane + ${U}u * 8u) * 4u;
    vSelf[${U}u] = vec4<f32>(q[e], q[e + 1u], q[e + 2u], q[e + 3u]);
  }
#endunroll
  if (h == kvh * group) {
    let at = ((blockTables[info.btOffset + info.pos / BLOCK] * params.numKvHeads + kvh) * BLOCK + info.pos % BLOCK) * HD4 + lane;
#unroll U LANE_VEC4
    kCache[at + ${U}u * 8u] = kSelf[${U}u];
    vCache[at + ${U}u * 8u] = vSelf[${U}u];
#endunroll
  }
  var st: array<Online, GQ>; // each head's running max and sum
#unroll G GQ
  st[${G}u] = Online(-3.0e38, 0.0, 1.0, 0.0);
#endunroll
  var acc: array<vec4<f32>, T * GQ>;
  for (var j = first; j < info.pos; j++) {
    let base = ((blockTables[info.btOffset + j / BLOCK] * params.numKvHeads + kvh) * BLOCK + j % BLOCK) * HD4 + lane;
    var kv: array<vec4<f32>, T>;
#unroll U LANE_VEC4
    kv[${U}u] = kCache[base + ${U}u * 8u];
#endunroll
#unroll G GQ
    {
      st[${G}u] = online(headScore(&qv, kv, ${G}u), st[${G}u].m, st[${G}u].l);
#unroll U LANE_VEC4
      acc[${G}u * T + ${U}u] *= st[${G}u].alpha;
#endunroll
    }
#endunroll
#unroll U LANE_VEC4
    {
      let vv = vCache[base + ${U}u * 8u];
#unroll G GQ
      acc[${G}u * T + ${U}u] += st[${G}u].p * vv;
#endunroll
    }
#endunroll
  }
  // The row's own position, last, then the output: the lane's vec4s of each head.
#unroll G GQ
  {
    let w = online(headScore(&qv, kSelf, ${G}u), st[${G}u].m, st[${G}u].l);
    let oo = r * params.outStride + params.outOffset + (h + ${G}u) * HD;
#unroll U LANE_VEC4
    {
      let o = (acc[${G}u * T + ${U}u] * w.alpha + w.p * vSelf[${U}u]) / w.l;
      let e = oo + (lane + ${U}u * 8u) * 4u;
      out[e] = o.x;
      out[e + 1u] = o.y;
      out[e + 2u] = o.z;
      out[e + 3u] = o.w;
    }
#endunroll
  }
#endunroll
}
