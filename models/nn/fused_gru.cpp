// One GRU layer over a whole sequence, forward and backward, for the CPU.
//
// torch's own CPU GRU runs about a dozen small ATen operators per time step,
// each recorded by autograd. Here each step is one matrix product plus one
// loop over the batch that computes every gate at once, and the backward
// pass walks the steps in reverse with the same shape of work. The weight
// gradients are left to the caller as single matrix products over all steps.
//
// Equations and gate order (r, z, n) are torch's:
//   r  = sigmoid(xr + W_hr h + b_hr)
//   z  = sigmoid(xz + W_hz h + b_hz)
//   n  = tanh(xn + r * (W_hn h + b_hn))
//   h' = n + z * (h - n)
// where xr, xz, xn are the input projections W_i* x + b_i*, computed by the
// caller for all steps in one product.

#include <ATen/ATen.h>
#include <torch/library.h>

#include <cmath>
#include <vector>

namespace {

// The step loops are compiled three times, for AVX-512, AVX2 and the base
// instruction set, and the loader picks the best one the CPU runs, so one
// build serves every x86-64 machine that shares the cache folder.
#if defined(__x86_64__) && defined(__GNUC__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

// Both functions go through exp, so that the compiler can call libmvec's
// vector exp. -ffast-math also lets it divide by a reciprocal estimate,
// which is off by an ulp or so, and lets exp's overflow to inf turn into
// NaN. So both functions return their limits exactly where the true value
// rounds to that limit in T. sigmoid is 1 above 17.4 (float) or 37.5
// (double). It is 0 below -88 (float) or -708 (double), where exp(-x) would
// overflow. tanh is +-1 beyond 9.1 (float) or 19.1 (double). Saturated
// gates are then exactly 0, 1 or +-1 and their derivatives vanish as
// nn.GRU's do. Arguments are never NaN: the caller runs inputs or weights
// that are not finite on nn.GRU.
template <typename T>
struct Limits;

template <>
struct Limits<float> {
  static constexpr float sigmoid_one = 17.4f;
  static constexpr float sigmoid_zero = -88.0f;
  static constexpr float tanh_one = 9.1f;
};

template <>
struct Limits<double> {
  static constexpr double sigmoid_one = 37.5;
  static constexpr double sigmoid_zero = -708.0;
  static constexpr double tanh_one = 19.1;
};

template <typename T>
inline T sigmoid(T x) {
  if (x > Limits<T>::sigmoid_one) return T(1);
  if (x < Limits<T>::sigmoid_zero) return T(0);
  return T(1) / (T(1) + std::exp(-x));
}

template <typename T>
inline T tanh_by_exp(T x) {
  if (x > Limits<T>::tanh_one) return T(1);
  if (x < -Limits<T>::tanh_one) return T(-1);
  return T(2) / (T(1) + std::exp(T(-2) * x)) - T(1);
}

// One step forward for a batch. xg: (B, 3H) input projections of this step;
// hg: (B, 3H) W_hh h without bias; bias: (3H) b_hh; h: (B, H) previous state.
// Writes the new state and keeps r, z, n and W_hn h + b_hn for the backward.
template <typename T>
VECTOR_CLONES void step_forward(const T* __restrict__ xg, const T* __restrict__ hg,
                                const T* __restrict__ bias, const T* __restrict__ h,
                                T* __restrict__ h_next, T* __restrict__ r_out,
                                T* __restrict__ z_out, T* __restrict__ n_out,
                                T* __restrict__ hn_out, int64_t batch,
                                int64_t hidden) {
  for (int64_t b = 0; b < batch; ++b) {
    const T* x = xg + b * 3 * hidden;
    const T* g = hg + b * 3 * hidden;
    const int64_t row = b * hidden;
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      const T r = sigmoid(x[j] + g[j] + bias[j]);
      const T z = sigmoid(x[hidden + j] + g[hidden + j] + bias[hidden + j]);
      const T hn = g[2 * hidden + j] + bias[2 * hidden + j];
      const T n = tanh_by_exp(x[2 * hidden + j] + r * hn);
      h_next[row + j] = n + z * (h[row + j] - n);
      r_out[row + j] = r;
      z_out[row + j] = z;
      n_out[row + j] = n;
      hn_out[row + j] = hn;
    }
  }
}

// One step backward for a batch. grad: (B, H) gradient of this step's output
// from above; carry: (B, H) gradient reaching this step from the next one,
// replaced by the part of dh/dh_prev that skips W_hh. Writes the gradients
// of the input projections (dxg) and of W_hh h + b_hh (dhg), both (B, 3H).
template <typename T>
VECTOR_CLONES void step_backward(const T* __restrict__ grad, T* carry,
                                 const T* __restrict__ h, const T* __restrict__ r,
                                 const T* __restrict__ z, const T* __restrict__ n,
                                 const T* __restrict__ hn, T* __restrict__ dxg,
                                 T* __restrict__ dhg, int64_t batch, int64_t hidden) {
  for (int64_t b = 0; b < batch; ++b) {
    T* gx = dxg + b * 3 * hidden;
    T* gh = dhg + b * 3 * hidden;
    const int64_t row = b * hidden;
#pragma omp simd
    for (int64_t j = 0; j < hidden; ++j) {
      const int64_t i = row + j;
      const T g = grad[i] + carry[i];
      const T dn = g * (T(1) - z[i]) * (T(1) - n[i] * n[i]);
      const T dz = g * (h[i] - n[i]) * z[i] * (T(1) - z[i]);
      const T dr = dn * hn[i] * r[i] * (T(1) - r[i]);
      carry[i] = g * z[i];
      gx[j] = dr;
      gx[hidden + j] = dz;
      gx[2 * hidden + j] = dn;
      gh[j] = dr;
      gh[hidden + j] = dz;
      gh[2 * hidden + j] = dn * r[i];
    }
  }
}

void check_cpu_contiguous(const at::Tensor& tensor, const char* name) {
  TORCH_CHECK(tensor.device().is_cpu(), name, " must be on the CPU");
  TORCH_CHECK(tensor.is_contiguous(), name, " must be contiguous");
}

// xg (T, B, 3H), h0 (B, H), w_hh (3H, H), b_hh (3H) ->
// [states (T+1, B, H) with h0 first, r, z, n, hn each (T, B, H)]
std::vector<at::Tensor> layer_forward(const at::Tensor& xg, const at::Tensor& h0,
                                      const at::Tensor& w_hh,
                                      const at::Tensor& b_hh) {
  check_cpu_contiguous(xg, "xg");
  check_cpu_contiguous(h0, "h0");
  check_cpu_contiguous(b_hh, "b_hh");
  const int64_t steps = xg.size(0), batch = xg.size(1), hidden = h0.size(1);
  TORCH_CHECK(xg.size(2) == 3 * hidden, "xg must be (T, B, 3H)");

  auto states = at::empty({steps + 1, batch, hidden}, h0.options());
  auto r = at::empty({steps, batch, hidden}, h0.options());
  auto z = at::empty_like(r);
  auto n = at::empty_like(r);
  auto hn = at::empty_like(r);
  auto hg = at::empty({batch, 3 * hidden}, h0.options());
  states[0].copy_(h0);
  const auto w_t = w_hh.t();
  const int64_t plane = batch * hidden;

  AT_DISPATCH_FLOATING_TYPES(xg.scalar_type(), "fused_gru_forward", [&] {
    const scalar_t* x = xg.data_ptr<scalar_t>();
    scalar_t* s = states.data_ptr<scalar_t>();
    for (int64_t t = 0; t < steps; ++t) {
      at::mm_out(hg, states.select(0, t), w_t);
      const int64_t at_t = t * plane;
      step_forward<scalar_t>(x + t * 3 * plane, hg.data_ptr<scalar_t>(),
                             b_hh.data_ptr<scalar_t>(), s + at_t, s + at_t + plane,
                             r.data_ptr<scalar_t>() + at_t,
                             z.data_ptr<scalar_t>() + at_t,
                             n.data_ptr<scalar_t>() + at_t,
                             hn.data_ptr<scalar_t>() + at_t, batch, hidden);
    }
  });
  return {states, r, z, n, hn};
}

// grad (T, B, H) of the outputs h_1..h_T, the forward's saved tensors, and
// w_hh (3H, H) -> [dxg (T, B, 3H), dhg (T, B, 3H), dh0 (B, H)]
std::vector<at::Tensor> layer_backward(const at::Tensor& grad, const at::Tensor& states,
                                       const at::Tensor& r, const at::Tensor& z,
                                       const at::Tensor& n, const at::Tensor& hn,
                                       const at::Tensor& w_hh) {
  check_cpu_contiguous(grad, "grad");
  const int64_t steps = grad.size(0), batch = grad.size(1), hidden = grad.size(2);
  auto dxg = at::empty({steps, batch, 3 * hidden}, grad.options());
  auto dhg = at::empty_like(dxg);
  auto carry = at::zeros({batch, hidden}, grad.options());
  const int64_t plane = batch * hidden;

  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "fused_gru_backward", [&] {
    scalar_t* c = carry.data_ptr<scalar_t>();
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t at_t = t * plane;
      step_backward<scalar_t>(
          grad.data_ptr<scalar_t>() + at_t, c, states.data_ptr<scalar_t>() + at_t,
          r.data_ptr<scalar_t>() + at_t, z.data_ptr<scalar_t>() + at_t,
          n.data_ptr<scalar_t>() + at_t, hn.data_ptr<scalar_t>() + at_t,
          dxg.data_ptr<scalar_t>() + t * 3 * plane,
          dhg.data_ptr<scalar_t>() + t * 3 * plane, batch, hidden);
      // carry += dhg_t W_hh, in place: (B, 3H) x (3H, H)
      carry.addmm_(dhg.select(0, t), w_hh);
    }
  });
  return {dxg, dhg, carry};
}

}  // namespace

TORCH_LIBRARY(rnn_forecast_gru, m) {
  m.def("layer_forward(Tensor xg, Tensor h0, Tensor w_hh, Tensor b_hh) -> Tensor[]",
        &layer_forward);
  m.def(
      "layer_backward(Tensor grad, Tensor states, Tensor r, Tensor z, Tensor n, "
      "Tensor hn, Tensor w_hh) -> Tensor[]",
      &layer_backward);
}
