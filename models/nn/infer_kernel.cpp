// The served forward pass of a Forecaster for small batches on the CPU:
// a stack of RNN, LSTM or GRU layers and the linear head, in one call.
//
// torch's recurrent operator prepares each layer again on every call (with
// oneDNN, two weight reorders per layer), which at batch 1 costs as much as
// the arithmetic. Here the weights are packed once by the caller and each
// call is plain loops: per layer, one product for the input projections of
// all steps, then per step one product with W_hh and one pass over the gates.
//
// Every row of the batch is computed alone, in the same order of operations
// whatever the batch size, so a window gets the same bits in a batch of 1 as
// in a batch of 64.
//
// Packed layout, per layer l (input width I_l: F for the first layer, H
// above), with P = H rounded up to 16 and G gates (RNN 1, GRU 3, LSTM 4):
//   wx (I_l, G*P)  input weights, transposed, each gate's block padded to P
//   bx (G*P)       input-side bias (RNN, LSTM: b_ih + b_hh; GRU: b_ih plus
//                  b_hh of r and z)
//   wh (H, G*P)    recurrent weights, transposed and padded the same way
//   bh (G*P)       recurrent-side bias (GRU: b_hn in the n block; else 0)
// then the head: wo (H, Q) with Q = K rounded up to 16, and bo (Q).
// Padded columns hold zeros, so padded lanes of every state stay 0.
//
// Gate order is torch's: LSTM (i, f, g, o), GRU (r, z, n).
//   RNN:  h' = tanh(a) or relu(a), a = xp + hp
//   LSTM: c' = f c + i g, h' = o tanh(c')
//   GRU:  n = tanh(xp_n + r hp_n), h' = n + z (h - n)
// where xp is the input projection with bx and hp = wh^T h + bh.

#include <cstddef>
#include <cstring>
#include <vector>

namespace {

constexpr int kRnnTanh = 0;
constexpr int kRnnRelu = 1;
constexpr int kLstm = 2;
constexpr int kGru = 3;

// 32-byte vectors: one AVX register, or two SSE registers on a CPU without
// AVX. 64-byte vectors (-DRF_VECTOR_BYTES=64) were slower on an AVX-512
// Xeon, whose 48 KB L1 data cache is smaller than a 64 KB weight matrix.
#ifndef RF_VECTOR_BYTES
#define RF_VECTOR_BYTES 32
#endif
constexpr int kBytes = RF_VECTOR_BYTES;
// gate blocks and head outputs are padded to a multiple of this many
// values: two vectors of float
constexpr long kPad = 2 * kBytes / sizeof(float);

template <typename T>
struct Vec;

template <>
struct Vec<float> {
  typedef float type __attribute__((vector_size(kBytes)));
  typedef int bits __attribute__((vector_size(kBytes)));
  static constexpr int lanes = kBytes / sizeof(float);
};

template <>
struct Vec<double> {
  typedef double type __attribute__((vector_size(kBytes)));
  typedef long long bits __attribute__((vector_size(kBytes)));
  static constexpr int lanes = kBytes / sizeof(double);
};

template <typename T>
using V = typename Vec<T>::type;

template <typename T>
inline V<T> load(const T* p) {
  V<T> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <typename T>
inline void store(T* p, V<T> v) {
  std::memcpy(p, &v, sizeof(v));
}

template <typename T>
inline V<T> splat(T s) {
  return V<T>{} + s;
}

// exp(x) = 2^n exp(r), n = round(x / ln 2), |r| <= ln 2 / 2, with exp(r) by
// its Taylor series: degree 7 for float (truncation below 6e-9), 13 for
// double (below 2e-16). x is clamped where exp over- or underflows; NaN
// passes through the clamps and the polynomial.
template <typename T>
struct Exp;

template <>
struct Exp<float> {
  static constexpr float hi = 88.0f;
  static constexpr float lo = -87.0f;
  static constexpr int degree = 7;
  static constexpr int bias = 127;
  static constexpr int mantissa = 23;
};

template <>
struct Exp<double> {
  static constexpr double hi = 709.0;
  static constexpr double lo = -708.0;
  static constexpr int degree = 13;
  static constexpr int bias = 1023;
  static constexpr int mantissa = 52;
};

template <typename T>
constexpr T inverse_factorial(int k) {
  double value = 1.0;
  for (int i = 2; i <= k; ++i) value /= i;
  return T(value);
}

template <typename T>
inline V<T> vexp(V<T> x) {
  typedef typename Vec<T>::bits B;
  const V<T> hi = splat<T>(Exp<T>::hi), lo = splat<T>(Exp<T>::lo);
  x = x > hi ? hi : x;
  x = x < lo ? lo : x;

  // round to nearest by the 1.5 * 2^mantissa trick
  const T shifter = T(1.5) * T(1LL << Exp<T>::mantissa);
  const V<T> n = (x * splat<T>(T(1.4426950408889634)) + shifter) - shifter;
  // ln 2 in two parts, so that r keeps its low bits
  const V<T> r = (x - n * splat<T>(T(0.693145751953125))) -
                 n * splat<T>(T(1.4286068203094173e-06));

  // Horner's rule on the coefficients 1 / k!
  V<T> p = splat<T>(inverse_factorial<T>(Exp<T>::degree));
  for (int k = Exp<T>::degree - 1; k >= 0; --k) p = p * r + inverse_factorial<T>(k);

  const B scale = (__builtin_convertvector(n, B) + Exp<T>::bias) << Exp<T>::mantissa;
  V<T> two_n;
  std::memcpy(&two_n, &scale, sizeof(two_n));
  return p * two_n;
}

template <typename T>
inline V<T> vsigmoid(V<T> x) {
  return T(1) / (T(1) + vexp<T>(-x));
}

template <typename T>
inline V<T> vtanh(V<T> x) {
  return T(2) / (T(1) + vexp<T>(T(-2) * x)) - T(1);
}

// C[r, j] = bias[j] + sum over k of A[r, k] W[k, j], k ascending, for rows r
// of A (row stride lda) and N columns (a multiple of kPad) of W (row stride
// N). Every row gets the same sequence of operations per column, in blocks
// of 4 rows and 2 vectors or of 1 row and up to 8 vectors.
template <typename T>
void rows_times(const T* A, long rows, long lda, long K, const T* W, long N,
                const T* bias, T* C, long ldc) {
  constexpr int L = Vec<T>::lanes;
  long r = 0;
  for (; r + 4 <= rows; r += 4) {
    const T* a = A + r * lda;
    T* c = C + r * ldc;
    for (long j = 0; j < N; j += 2 * L) {
      V<T> acc[4][2];
      for (int i = 0; i < 4; ++i) {
        acc[i][0] = load(bias + j);
        acc[i][1] = load(bias + j + L);
      }
      for (long k = 0; k < K; ++k) {
        const V<T> w0 = load(W + k * N + j), w1 = load(W + k * N + j + L);
        for (int i = 0; i < 4; ++i) {
          const V<T> s = splat(a[i * lda + k]);
          acc[i][0] += s * w0;
          acc[i][1] += s * w1;
        }
      }
      for (int i = 0; i < 4; ++i) {
        store(c + i * ldc + j, acc[i][0]);
        store(c + i * ldc + j + L, acc[i][1]);
      }
    }
  }
  for (; r < rows; ++r) {
    const T* a = A + r * lda;
    T* c = C + r * ldc;
    long j = 0;
    for (; j + 8 * L <= N; j += 8 * L) {
      V<T> acc[8];
      for (int v = 0; v < 8; ++v) acc[v] = load(bias + j + v * L);
      for (long k = 0; k < K; ++k) {
        const V<T> s = splat(a[k]);
        for (int v = 0; v < 8; ++v) acc[v] += s * load(W + k * N + j + v * L);
      }
      for (int v = 0; v < 8; ++v) store(c + j + v * L, acc[v]);
    }
    for (; j < N; j += 2 * L) {
      V<T> acc0 = load(bias + j), acc1 = load(bias + j + L);
      for (long k = 0; k < K; ++k) {
        const V<T> s = splat(a[k]);
        acc0 += s * load(W + k * N + j);
        acc1 += s * load(W + k * N + j + L);
      }
      store(c + j, acc0);
      store(c + j + L, acc1);
    }
  }
}

// One step of the gates for one row: xp and hp (G*P) in, h (P) and, for an
// LSTM, c (P) updated in place.
template <typename T>
void gates(int cell, long P, const T* xp, const T* hp, T* h, T* c) {
  constexpr int L = Vec<T>::lanes;
  for (long j = 0; j < P; j += L) {
    if (cell == kLstm) {
      const V<T> i = vsigmoid<T>(load(xp + j) + load(hp + j));
      const V<T> f = vsigmoid<T>(load(xp + P + j) + load(hp + P + j));
      const V<T> g = vtanh<T>(load(xp + 2 * P + j) + load(hp + 2 * P + j));
      const V<T> o = vsigmoid<T>(load(xp + 3 * P + j) + load(hp + 3 * P + j));
      const V<T> cell_state = f * load(c + j) + i * g;
      store(c + j, cell_state);
      store(h + j, o * vtanh<T>(cell_state));
    } else if (cell == kGru) {
      const V<T> r = vsigmoid<T>(load(xp + j) + load(hp + j));
      const V<T> z = vsigmoid<T>(load(xp + P + j) + load(hp + P + j));
      const V<T> n = vtanh<T>(load(xp + 2 * P + j) + r * load(hp + 2 * P + j));
      store(h + j, n + z * (load(h + j) - n));
    } else {
      const V<T> a = load(xp + j) + load(hp + j);
      const V<T> zero = splat<T>(T(0));
      // a > 0 is false for NaN, so relu keeps NaN as torch's does
      store(h + j, cell == kRnnTanh ? vtanh<T>(a) : (a < zero ? zero : a));
    }
  }
}

template <typename T>
void forward(int cell, long layers, long batch, long steps, long features,
             long hidden, long horizon, const T* x, const T* packed, T* out) {
  const long G = cell == kLstm ? 4 : (cell == kGru ? 3 : 1);
  const long P = (hidden + kPad - 1) / kPad * kPad;
  const long Q = (horizon + kPad - 1) / kPad * kPad;
  const long N = G * P;

  // xp (B, T, N): input projections; seq (B, T, P): a layer's outputs
  std::vector<T> xp(batch * steps * N), seq(batch * steps * P);
  std::vector<T> hp(batch * N), h(batch * P), c(batch * P);

  // the first layer reads F inputs per step; the others H, spaced P apart
  const T* input = x;
  long width = features, stride = features;
  const T* w = packed;
  for (long l = 0; l < layers; ++l) {
    const T *wx = w, *bx = wx + width * N, *wh = bx + N, *bh = wh + hidden * N;
    w = bh + N;

    rows_times(input, batch * steps, stride, width, wx, N, bx, xp.data(), N);
    std::fill(h.begin(), h.end(), T(0));
    std::fill(c.begin(), c.end(), T(0));
    for (long t = 0; t < steps; ++t) {
      rows_times(h.data(), batch, P, hidden, wh, N, bh, hp.data(), N);
      for (long b = 0; b < batch; ++b) {
        T* hb = h.data() + b * P;
        gates(cell, P, xp.data() + (b * steps + t) * N, hp.data() + b * N, hb,
              c.data() + b * P);
        if (l + 1 < layers) std::memcpy(seq.data() + (b * steps + t) * P, hb, P * sizeof(T));
      }
    }
    input = seq.data();
    width = hidden;
    stride = P;
  }

  // head: out (B, K) from the top layer's last state
  std::vector<T> y(batch * Q);
  const T *wo = w, *bo = wo + hidden * Q;
  rows_times(h.data(), batch, P, hidden, wo, Q, bo, y.data(), Q);
  for (long b = 0; b < batch; ++b)
    std::memcpy(out + b * horizon, y.data() + b * Q, horizon * sizeof(T));
}

template <typename T>
int checked_forward(int cell, long layers, long batch, long steps, long features,
                    long hidden, long horizon, const T* x, const T* packed, T* out) {
  if (cell < kRnnTanh || cell > kGru || layers < 1 || batch < 1 || steps < 1 ||
      features < 1 || hidden < 1 || horizon < 1)
    return 1;
  forward<T>(cell, layers, batch, steps, features, hidden, horizon, x, packed, out);
  return 0;
}

}  // namespace

extern "C" {

// The padding of gate blocks and head outputs that the packed layout uses.
long rf_infer_pad() { return kPad; }

// Each returns 0, or 1 when an argument is out of range.
int rf_infer_f32(int cell, long layers, long batch, long steps, long features,
                 long hidden, long horizon, const float* x, const float* packed,
                 float* out) {
  return checked_forward(cell, layers, batch, steps, features, hidden, horizon, x,
                         packed, out);
}

int rf_infer_f64(int cell, long layers, long batch, long steps, long features,
                 long hidden, long horizon, const double* x, const double* packed,
                 double* out) {
  return checked_forward(cell, layers, batch, steps, features, hidden, horizon, x,
                         packed, out);
}

}  // extern "C"
