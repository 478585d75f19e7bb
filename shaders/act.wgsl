// Fragment: the GLU gate activation act(g), SiLU or tanh GELU (GELU_TANH), as src/engine/reference/ops.ts computes it.
fn act(g: f32) -> f32 {
#if GELU_TANH
  // 0.7978845608 = sqrt(2 / pi); tanh's argument clamped (tanh(15) is 1 in f32) so it stays finite.
  return 0.5 * g * (1.0 + tanh(clamp(0.7978845608 * (g + 0.044715 * g * g * g), -15.0, 15.0)));
#else
  return g / (1.0 + exp(-g));
#endif
}
