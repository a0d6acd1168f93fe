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

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>

namespace {

constexpr int kRnnTanh = 0;
constexpr int kRnnRelu = 1;
constexpr int kLstm = 2;
constexpr int kGru = 3;

// Vectors of 64 bytes where the CPU has AVX-512, else 32 bytes: one AVX
// register, or two SSE registers on a CPU without AVX.
#if defined(RF_VECTOR_BYTES)
constexpr int kBytes = RF_VECTOR_BYTES;
#elif defined(__AVX512F__)
constexpr int kBytes = 64;
#else
constexpr int kBytes = 32;
#endif
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

// s times a vector of ones: GCC folds the exact product by 1 into one
// broadcast, where 0 + s would cost an add (0 + -0 is +0)
template <typename T>
inline V<T> splat(T s) {
  return s * (V<T>{} + T(1));
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

// x = n ln 2 + r split as above: two_n = 2^n and expm1_r = exp(r) - 1, the
// latter as r q(r) with q(r) = (exp(r) - 1) / r, so that it keeps its
// relative precision where r is near 0.
template <typename T>
struct Reduced {
  V<T> two_n, expm1_r;
};

template <typename T>
inline Reduced<T> reduce(V<T> x) {
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

  // Horner's rule on the coefficients 1 / (k + 1)!
  V<T> q = splat<T>(inverse_factorial<T>(Exp<T>::degree));
  for (int k = Exp<T>::degree - 1; k >= 1; --k) q = q * r + inverse_factorial<T>(k);

  const B scale = (__builtin_convertvector(n, B) + Exp<T>::bias) << Exp<T>::mantissa;
  Reduced<T> out;
  std::memcpy(&out.two_n, &scale, sizeof(out.two_n));
  out.expm1_r = q * r;
  return out;
}

template <typename T>
inline V<T> vexp(V<T> x) {
  const Reduced<T> e = reduce<T>(x);
  return (e.expm1_r + T(1)) * e.two_n;
}

// exp(x) - 1 = 2^n (exp(r) - 1) + (2^n - 1), for x <= 0. At n = 0 this is
// exp(r) - 1 itself. At n < 0 the result is below -0.29, so the sum
// cancels no leading digits.
template <typename T>
inline V<T> vexpm1(V<T> x) {
  const Reduced<T> e = reduce<T>(x);
  return e.two_n * e.expm1_r + (e.two_n - T(1));
}

template <typename T>
inline V<T> vsigmoid(V<T> x) {
  return T(1) / (T(1) + vexp<T>(-x));
}

// tanh(x) = sign(x) (-m) / (2 + m) with m = exp(-2 |x|) - 1. It keeps its
// relative precision for small |x|, where 2 / (1 + exp(-2x)) - 1 rounds to
// a multiple of the unit roundoff. NaN stays NaN.
template <typename T>
inline V<T> vtanh(V<T> x) {
  const V<T> zero = splat<T>(T(0));
  const V<T> m = vexpm1<T>(T(-2) * (x < zero ? -x : x));
  const V<T> t = -m / (T(2) + m);
  return x < zero ? -t : t;
}

// Columns [j, j + NV vectors) of C[r, j] = bias[j] + sum over k of
// A[r, k] W[k, j], k ascending, for R rows of A (row stride lda) and W of
// row stride N. R * NV accumulators stay in registers.
template <typename T, int R, int NV>
inline void block(const T* a, long lda, long K, const T* W, long N, long j,
                  const T* bias, T* c, long ldc) {
  constexpr int L = Vec<T>::lanes;
  V<T> acc[R][NV];
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = load(bias + j + v * L);

  for (long k = 0; k < K; ++k) {
    V<T> w[NV];
    for (int v = 0; v < NV; ++v) w[v] = load(W + k * N + j + v * L);
    for (int i = 0; i < R; ++i) {
      const V<T> s = splat(a[i * lda + k]);
      for (int v = 0; v < NV; ++v) acc[i][v] += s * w[v];
    }
  }

  for (int i = 0; i < R; ++i)
    for (int v = 0; v < NV; ++v) store(c + i * ldc + j + v * L, acc[i][v]);
}

// Vectors per column block of a lone row. With AVX-512's 32 registers, 16
// accumulators cover a whole LSTM layer of hidden size 64 (N = 256 floats).
// Each step of a batch of 1 then reads W (64 KB, from the L2 cache) in one
// sequential pass instead of two strided ones. That LSTM (2 layers, 60
// steps) took 121 against 137 us per pass on an AMD EPYC (Zen 4), measured
// by thread CPU time. Without AVX-512, 16 registers leave room for 8.
#if defined(__AVX512F__)
constexpr int kLoneRowVectors = 16;
#else
constexpr int kLoneRowVectors = 8;
#endif

// All columns for R rows: blocks of NV vectors, then of 2 vectors.
template <typename T, int R, int NV>
void row_block(const T* a, long lda, long K, const T* W, long N, const T* bias,
               T* c, long ldc) {
  constexpr int L = Vec<T>::lanes;
  long j = 0;
  for (; j + NV * L <= N; j += NV * L) block<T, R, NV>(a, lda, K, W, N, j, bias, c, ldc);
  for (; j < N; j += 2 * L) block<T, R, 2>(a, lda, K, W, N, j, bias, c, ldc);
}

// C[r, j] = bias[j] + sum over k of A[r, k] W[k, j], k ascending, for rows r
// of A (row stride lda) and N columns (a multiple of kPad) of W (row stride
// N). Every row gets the same sequence of operations per column whichever
// block of rows it falls in, so a row's result does not depend on the others.
// Blocks of 6 rows take each column block in turn over all such rows, so
// that its part of W stays in the L1 cache; 4, 2 and 1 rows take the rest.
// A lone row (every step of a batch of 1) takes kLoneRowVectors vectors per
// block, so that it reads W row by row in one pass.
template <typename T>
void rows_times(const T* A, long rows, long lda, long K, const T* W, long N,
                const T* bias, T* C, long ldc) {
  constexpr int L = Vec<T>::lanes;
  const long six = rows / 6 * 6;
  for (long j = 0; j < N; j += 2 * L)
    for (long r = 0; r < six; r += 6)
      block<T, 6, 2>(A + r * lda, lda, K, W, N, j, bias, C + r * ldc, ldc);

  long r = six;
  if (rows - r >= 4) {
    row_block<T, 4, 2>(A + r * lda, lda, K, W, N, bias, C + r * ldc, ldc);
    r += 4;
  }
  if (rows - r >= 2) {
    row_block<T, 2, 4>(A + r * lda, lda, K, W, N, bias, C + r * ldc, ldc);
    r += 2;
  }
  if (rows - r == 1)
    row_block<T, 1, kLoneRowVectors>(A + r * lda, lda, K, W, N, bias, C + r * ldc, ldc);
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

// Rows of the batch per pass through the network. A pass keeps its input
// projections, (rows, T, G*P) values, in the L2 cache where it can: at
// T = 60 and G*P = 256, 12 rows took 73 us per row at batch 256 on an
// AVX-512 Xeon, against 91 us for the whole batch in one pass.
constexpr long kTileRows = 12;

// Scratch space for one pass, uninitialised: every value is written
// before it is read.
template <typename T>
struct Scratch {
  Scratch(long rows, long steps, long N, long P, long Q)
      : xp(new T[rows * steps * N]),
        seq(new T[rows * steps * P]),
        hp(new T[rows * N]),
        h(new T[rows * P]),
        c(new T[rows * P]),
        y(new T[rows * Q]) {}
  // xp (rows, T, N): input projections; seq (rows, T, P): a layer's outputs
  std::unique_ptr<T[]> xp, seq, hp, h, c, y;
};

struct Shape {
  int cell;
  long layers, steps, features, hidden, horizon;
  long N, P, Q;
};

// One pass over `rows` windows x (rows, T, F) into out (rows, K).
template <typename T>
void forward_rows(const Shape& s, long rows, const T* x, const T* packed, T* out,
                  Scratch<T>& scratch) {
  const long N = s.N, P = s.P, Q = s.Q, steps = s.steps;
  T *xp = scratch.xp.get(), *seq = scratch.seq.get(), *hp = scratch.hp.get();
  T *h = scratch.h.get(), *c = scratch.c.get(), *y = scratch.y.get();

  // the first layer reads F inputs per step; the others H, spaced P apart
  const T* input = x;
  long width = s.features, stride = s.features;
  const T* w = packed;
  for (long l = 0; l < s.layers; ++l) {
    const T *wx = w, *bx = wx + width * N, *wh = bx + N, *bh = wh + s.hidden * N;
    w = bh + N;
    const bool last = l + 1 == s.layers;

    rows_times(input, rows * steps, stride, width, wx, N, bx, xp, N);
    std::fill(h, h + rows * P, T(0));
    std::fill(c, c + rows * P, T(0));
    for (long t = 0; t < steps; ++t) {
      rows_times(h, rows, P, s.hidden, wh, N, bh, hp, N);
      for (long b = 0; b < rows; ++b) {
        gates(s.cell, P, xp + (b * steps + t) * N, hp + b * N, h + b * P, c + b * P);
        if (!last) std::memcpy(seq + (b * steps + t) * P, h + b * P, P * sizeof(T));
      }
    }
    input = seq;
    width = s.hidden;
    stride = P;
  }

  // head: out (rows, K) from the top layer's last state
  const T *wo = w, *bo = wo + s.hidden * Q;
  rows_times(h, rows, P, s.hidden, wo, Q, bo, y, Q);
  for (long b = 0; b < rows; ++b)
    std::memcpy(out + b * s.horizon, y + b * Q, s.horizon * sizeof(T));
}

template <typename T>
void forward(int cell, long layers, long batch, long steps, long features,
             long hidden, long horizon, const T* x, const T* packed, T* out) {
  Shape s{cell, layers, steps, features, hidden, horizon, 0, 0, 0};
  const long gates = cell == kLstm ? 4 : (cell == kGru ? 3 : 1);
  s.P = (hidden + kPad - 1) / kPad * kPad;
  s.Q = (horizon + kPad - 1) / kPad * kPad;
  s.N = gates * s.P;

  const long tile = std::min(batch, kTileRows);
  Scratch<T> scratch(tile, steps, s.N, s.P, s.Q);
  for (long r = 0; r < batch; r += tile) {
    const long rows = std::min(tile, batch - r);
    forward_rows(s, rows, x + r * steps * features, packed, out + r * horizon, scratch);
  }
}

template <typename T>
int checked_forward(int cell, long layers, long batch, long steps, long features,
                    long hidden, long horizon, const T* x, const T* packed, T* out) {
  if (cell < kRnnTanh || cell > kGru || layers < 1 || batch < 1 || steps < 1 ||
      features < 1 || hidden < 1 || horizon < 1)
    return 1;
  // an exception that left this C interface would end the process
  try {
    forward<T>(cell, layers, batch, steps, features, hidden, horizon, x, packed, out);
  } catch (const std::bad_alloc&) {
    return 2;
  }
  return 0;
}

}  // namespace

extern "C" {

// The padding of gate blocks and head outputs that the packed layout uses.
long rf_infer_pad() { return kPad; }

// Each returns 0, 1 when an argument is out of range, or 2 when the scratch
// space of the pass could not be allocated.
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
