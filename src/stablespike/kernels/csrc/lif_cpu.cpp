// Fused multi-step TrLIF forward and backward on the CPU (stablespike.kernels.cpu_build builds
// this file and stablespike.kernels.cpu calls it through ctypes).
//
// Plain C++ with OpenMP and no PyTorch headers, so that it compiles in about a second: the
// caller allocates every output and passes raw pointers, sizes and flags (extern "C" functions at
// the end). One step of the input is viewed as a row-major [R, L] matrix of N neurons; work items
// are chunks of at most CHUNK neurons of one row, run in parallel (OpenMP threads). An
// item is processed in blocks of a few SIMD vectors whose state stays in registers for all T
// steps (the last, partial block of an item runs on a zero-padded copy). The arithmetic repeats
// the reference's operations in the same order (built with -ffp-contract=off, no fast-math) so
// spikes match it bit for bit:
//
//   H = U + (X - U) * k      (decay_input)        H = U * (1 - k) + X      (otherwise)
//   S = H >= Vthr;  O = Vthr * S (TrSG) or S;     U = H - Vthr * S (soft)  or  H * (1 - S) (hard)
//
// The forward also sums MP-Init's statistic of U[T] (finite values of neurons that fired) per
// row, so the running-mean update needs no second pass over U[T].
//
// Backward saves nothing but X: it recomputes H and dH/dk for one block into a small scratch
// buffer, then runs the adjoint a[t] = dL/dU[t] from t = T down to 1:
//
//   gH = gO * dO/dH + a * dU/dH;   gX = gH * k (or gH);   a[t-1] = gH * (1 - k)
//   gk += gH * dH/dk;   gVthr += gO * dO/dVthr + a * dU/dVthr;   gU0 = a[0]
//
// with the surrogate derivatives of stablespike.functional.surrogate (see kernels/fused.py).

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace {

constexpr int64_t CHUNK = 256;
enum Surrogate : int64_t { TRSG = 0, AS = 1, RS = 2 };
enum Mode : int64_t { SCALAR = 0, ROW = 1, COL = 2, FULL = 3 };

// ------------------------------------------------------------------------------ vector blocks
// A block is W vectors of LANES neurons each; its state stays in registers for all T steps
// (GCC vector extensions: one source for float and double, AVX2 or AVX-512 by build flags).
#if defined(__AVX512F__)
constexpr int VBYTES = 64;
#elif defined(__AVX__)
constexpr int VBYTES = 32;
#else
constexpr int VBYTES = 16;  // SSE2 (a build without AVX flags)
#endif
constexpr int W = 4;      // vectors per forward block
constexpr int WB = 2;     // vectors per backward sub-block (more state per neuron: fewer fit)

template <typename S>
struct VecOf {
  typedef S type __attribute__((vector_size(VBYTES)));
};

template <typename S>
struct Block {
  using V = typename VecOf<S>::type;
  static constexpr int LANES = VBYTES / static_cast<int>(sizeof(S));
  static constexpr int G = W * LANES;  // neurons per block
  static_assert(CHUNK % G == 0, "a chunk holds whole blocks");

  static inline V load(const S* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  }
  static inline void store(S* p, V v) { std::memcpy(p, &v, sizeof(V)); }
  static inline V splat(S s) { return V{} + s; }
};

struct Grid {
  int64_t T, N, rows, cols, period, nchunks;
  int threads;
};

struct Item {
  int64_t row, col0, len, base;
};

inline Item item_at(const Grid& g, int64_t i) {
  const int64_t row = i / g.nchunks;
  const int64_t col0 = (i % g.nchunks) * CHUNK;
  const int64_t len = std::min(CHUNK, g.cols - col0);
  return {row, col0, len, row * g.cols + col0};
}

// Copy the values of one constant that the neurons of an item read into dst[0..len) and pad
// dst[len..CHUNK) with `pad` (the lanes of a partial block compute on them, then are dropped).
template <typename S>
inline void fill_param(S* __restrict__ dst, const S* __restrict__ p, int64_t mode, const Grid& g,
                       const Item& it, S pad) {
  if (mode == SCALAR || mode == ROW) {
    const S v = mode == SCALAR ? p[0] : p[it.row % g.period];
    for (int64_t j = 0; j < it.len; ++j) dst[j] = v;
  } else {
    const S* src = mode == COL ? p + it.col0 : p + it.base;
    std::copy(src, src + it.len, dst);
  }
  std::fill(dst + it.len, dst + CHUNK, pad);
}

// Grain (in items) so that a task holds at least ~32k neuron-steps.
inline int64_t grain_for(const Grid& g) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, CHUNK * g.T));
}

// f(begin, end) over [0, n) split into at most `threads` contiguous ranges of at least `grain`
// items (as at::parallel_for splits them); results do not depend on the split.
template <typename F>
void parallel_for(int64_t n, int64_t grain, int threads, const F& f) {
  if (n <= 0) return;
  const int64_t most = (n + grain - 1) / grain;
  const int nt = static_cast<int>(std::min<int64_t>(std::max(threads, 1), most));
  if (nt <= 1 || omp_in_parallel()) {
    f(int64_t(0), n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int64_t per = (n + nt - 1) / nt;
    const int64_t begin = omp_get_thread_num() * per;
    const int64_t end = std::min(n, begin + per);
    if (begin < end) f(begin, end);
  }
}

// A whole block reads and writes its [T, G] slice of a [T, N] tensor in place (step stride N);
// the last, partial block of an item works on a zero-padded [T, G] copy (step stride G):
// gather copies n neurons of each step into tmp (returned), scatter copies them back.
template <typename S>
const S* gather(const S* src, int64_t N, int64_t T, int64_t n, S* tmp) {
  constexpr int64_t G = Block<S>::G;
  for (int64_t t = 0; t < T; ++t) {
    std::copy(src + t * N, src + t * N + n, tmp + t * G);
    std::fill(tmp + t * G + n, tmp + (t + 1) * G, S(0));
  }
  return tmp;
}

template <typename S>
void scatter(const S* tmp, S* dst, int64_t N, int64_t T, int64_t n) {
  constexpr int64_t G = Block<S>::G;
  for (int64_t t = 0; t < T; ++t) std::copy(tmp + t * G, tmp + t * G + n, dst + t * N);
}

// ------------------------------------------------------------------------------------- forward
// One block for all T steps: k, th from kp, tp; U[0] from up, U[T] back to up; spike counts to cp.
template <typename S, bool SCALE, bool DECAY, bool SOFT>
inline void forward_block(const S* __restrict__ x, S* __restrict__ out, int64_t stride, int64_t T,
                          const S* __restrict__ kp, const S* __restrict__ tp, S* __restrict__ up,
                          S* __restrict__ cp) {
  using B = Block<S>;
  using V = typename B::V;
  const V one = B::splat(S(1)), zero = B::splat(S(0));
  V k[W], th[W], u[W], c[W];
  for (int w = 0; w < W; ++w) {
    k[w] = B::load(kp + w * B::LANES);
    th[w] = B::load(tp + w * B::LANES);
    u[w] = B::load(up + w * B::LANES);
    c[w] = zero;
  }
  for (int64_t t = 0; t < T; ++t) {
    const S* xt = x + t * stride;
    S* ot = out + t * stride;
    for (int w = 0; w < W; ++w) {
      const V xv = B::load(xt + w * B::LANES);
      V h;
      if constexpr (DECAY) {
        h = u[w] + (xv - u[w]) * k[w];
      } else {
        h = u[w] * (one - k[w]) + xv;
      }
      const V s = h >= th[w] ? one : zero;
      B::store(ot + w * B::LANES, SCALE ? th[w] * s : s);
      if constexpr (SOFT) {
        u[w] = h - th[w] * s;
      } else {
        u[w] = h * (one - s);
      }
      c[w] += s;  // spike count; fired = count != 0
    }
  }
  for (int w = 0; w < W; ++w) {
    B::store(up + w * B::LANES, u[w]);
    B::store(cp + w * B::LANES, c[w]);
  }
}

template <typename S, bool SCALE, bool DECAY, bool SOFT>
void forward_item(const S* __restrict__ x, S* __restrict__ out, S* __restrict__ v_last,
                  bool* __restrict__ fired, const Grid& g, const Item& it, const S* __restrict__ kb,
                  const S* __restrict__ vb, S* __restrict__ ub, S* __restrict__ fb,
                  S* __restrict__ tx, S* __restrict__ to, double* __restrict__ stat) {
  constexpr int64_t G = Block<S>::G;
  const int64_t len = it.len;
  for (int64_t j0 = 0; j0 < len; j0 += G) {
    const int64_t n = std::min(G, len - j0);
    const S* xs = x + it.base + j0;
    S* os = out + it.base + j0;
    if (n == G) {
      forward_block<S, SCALE, DECAY, SOFT>(xs, os, g.N, g.T, kb + j0, vb + j0, ub + j0, fb + j0);
    } else {
      forward_block<S, SCALE, DECAY, SOFT>(gather(xs, g.N, g.T, n, tx), to, G, g.T, kb + j0,
                                           vb + j0, ub + j0, fb + j0);
      scatter(to, os, g.N, g.T, n);
    }
  }
  for (int64_t j = 0; j < len; ++j) {
    v_last[it.base + j] = ub[j];
    fired[it.base + j] = fb[j] != S(0);
  }
  if (stat == nullptr) return;
  // MP-Init's statistic of U[T] over the neurons that fired: sum and count of the finite values,
  // count of the non-finite ones (u - u is 0 exactly when u is finite)
  double total = 0.0, count = 0.0, bad = 0.0;
#pragma omp simd reduction(+ : total, count, bad)
  for (int64_t j = 0; j < len; ++j) {
    const S u = ub[j];
    const bool f = fb[j] != S(0);
    const bool finite = (u - u) == S(0);
    total += (f && finite) ? static_cast<double>(u) : 0.0;
    count += (f && finite) ? 1.0 : 0.0;
    bad += (f && !finite) ? 1.0 : 0.0;
  }
  const int64_t items = g.rows * g.nchunks;  // stat points at item i of three [items] arrays
  stat[0] = total;
  stat[items] = count;
  stat[2 * items] = bad;
}

template <typename S, bool SCALE, bool DECAY, bool SOFT>
void forward_all(const S* x, const S* k, const S* vth, const S* v0, const int64_t* modes, S* out,
                 S* v_last, bool* fired, double* parts, const Grid& g) {
  constexpr int64_t G = Block<S>::G;
  parallel_for(g.rows * g.nchunks, grain_for(g), g.threads, [&](int64_t begin, int64_t end) {
    std::vector<S> buf(4 * CHUNK + 2 * g.T * G);
    S* kb = buf.data();
    S* vb = kb + CHUNK;
    S* ub = vb + CHUNK;
    S* fb = ub + CHUNK;
    S* tx = fb + CHUNK;
    S* to = tx + g.T * G;
    for (int64_t i = begin; i < end; ++i) {
      const Item it = item_at(g, i);
      fill_param(kb, k, modes[0], g, it, S(0));
      fill_param(vb, vth, modes[1], g, it, S(1));
      fill_param(ub, v0, modes[2], g, it, S(0));
      double* stat = parts != nullptr ? parts + i : nullptr;
      forward_item<S, SCALE, DECAY, SOFT>(x, out, v_last, fired, g, it, kb, vb, ub, fb, tx, to,
                                          stat);
    }
  });
}

// ------------------------------------------------------------------------------------ backward
struct BwdOut {
  // per-item partial sums (modes SCALAR / ROW) or per-neuron values (COL / FULL)
  double* part[3];
  void* neuron[3];
  bool need_gv0;  // else U[0]'s gradient is left at 0
};

// One step of the adjoint for a vector of neurons: from H, Vthr (ib = 1 / Vthr), dL/dO and
// a = dL/dU[t], returns gH = dL/dH = gO dO/dH + a dU/dH and gV = gO dO/dVthr + a dU/dVthr, the
// summand of the threshold gradient, with the surrogate derivatives of
// stablespike.functional.surrogate and the reset derivatives of kernels/fused.py:
//
//   TrSG  dO/dH = w          dO/dVthr = S - r w        (r = H / Vthr, w = 1[1/2 < r < 3/2])
//   RS    dO/dH = w / Vthr   dO/dVthr = -(r / Vthr) w
//   AS    dO/dH = w          dO/dVthr = -w             (w = 1[-1/2 < H - Vthr < 1/2])
//   soft  dU/dH = 1 - Vthr dS/dH      dU/dVthr = -S - Vthr dS/dVthr
//   hard  dU/dH = 1 - S - H dS/dH     dU/dVthr = -H dS/dVthr      (detach: no dS terms)
//
// with Vthr dS/dH = w (TrSG, RS) or Vthr w (AS), Vthr dS/dVthr = -r w or -Vthr w, H dS/dH = r w
// or H w, H dS/dVthr = -r^2 w or -H w. Since w and S are 0 or 1, products with them are
// selections (sel) and gH a blend where it can be: the same values for finite inputs as the
// products in the reference, in fewer instructions.
template <int SURR, bool SOFT, bool DETACH, typename V>
inline void adjoint_step(V h, V th, V ib, V gO, V a, V one, V zero, V half, V three_halves,
                         V& gH, V& gV) {
  const auto ms = h >= th;
  const V s = ms ? one : zero;
  if constexpr (SURR == AS) {
    const V xa = h - th;
    const auto m = (xa > -half) & (xa < half);
    const V go_dodh = m ? gO : zero;
    const V dodv = m ? -one : zero;
    if constexpr (SOFT && DETACH) {
      gH = go_dodh + a;
      gV = gO * dodv + a * -s;
    } else if constexpr (SOFT) {
      const V tw = m ? th : zero;
      gH = go_dodh + a * (one - tw);
      gV = gO * dodv + a * (-s + tw);
    } else if constexpr (DETACH) {
      gH = go_dodh + (ms ? zero : a);
      gV = gO * dodv;
    } else {
      const V hw = m ? h : zero;
      gH = go_dodh + a * ((one - s) - hw);
      gV = gO * dodv + a * hw;
    }
  } else {
    const V r = h / th;
    const auto m = (r > half) & (r < three_halves);
    const V rw = m ? r : zero;
    V go_dodh, dodv;
    if constexpr (SURR == TRSG) {  // O = Vthr S
      go_dodh = gO;
      dodv = s - rw;
    } else {  // RS: O = S
      go_dodh = gO * ib;
      dodv = -(m ? r * ib : zero);
    }
    if constexpr (SOFT && DETACH) {
      gH = (m ? go_dodh : zero) + a;
      gV = gO * dodv + a * -s;
    } else if constexpr (SOFT) {
      gH = m ? go_dodh : a;  // gO dO/dH + a (1 - w)
      gV = gO * dodv + a * (-s + rw);
    } else if constexpr (DETACH) {
      gH = (m ? go_dodh : zero) + (ms ? zero : a);
      gV = gO * dodv;
    } else {
      gH = (m ? go_dodh : zero) + a * ((one - s) - rw);
      gV = gO * dodv + a * (m ? r * r : zero);
    }
  }
}

// One sub-block of WB vectors: recompute H[t] and dH/dk[t] into `scratch` ([2, T, WB] vectors)
// from U[0] (in ap), then the adjoint from a[T] = dL/dU[T] (gv, or 0); leaves dL/dU[0] in ap
// and the summands of the k and Vthr gradients in akp, avp. gx may be null (not needed).
template <typename S, int SURR, bool DECAY, bool SOFT, bool DETACH>
inline void backward_block(const S* __restrict__ x, const S* __restrict__ go,
                           const S* __restrict__ gv, S* __restrict__ gx, int64_t stride, int64_t T,
                           const S* __restrict__ kp, const S* __restrict__ tp,
                           const S* __restrict__ ip, S* __restrict__ ap, S* __restrict__ akp,
                           S* __restrict__ avp, typename Block<S>::V* __restrict__ scratch) {
  using B = Block<S>;
  using V = typename B::V;
  const V one = B::splat(S(1)), zero = B::splat(S(0));
  const V half = B::splat(S(0.5)), three_halves = B::splat(S(1.5));
  V k[WB], th[WB], a[WB];
  V* H = scratch;
  V* D = scratch + T * WB;
  for (int w = 0; w < WB; ++w) {
    k[w] = B::load(kp + w * B::LANES);
    th[w] = B::load(tp + w * B::LANES);
    a[w] = B::load(ap + w * B::LANES);  // U[0]
  }
  // 1. recompute H[t] and dH/dk[t]
  for (int64_t t = 0; t < T; ++t) {
    const S* xt = x + t * stride;
    for (int w = 0; w < WB; ++w) {
      const V u = a[w];
      const V xv = B::load(xt + w * B::LANES);
      V h;
      if constexpr (DECAY) {
        const V diff = xv - u;
        h = u + diff * k[w];
        D[t * WB + w] = diff;
      } else {
        h = u * (one - k[w]) + xv;
        D[t * WB + w] = -u;
      }
      H[t * WB + w] = h;
      const V s = h >= th[w] ? one : zero;
      if constexpr (SOFT) {
        a[w] = h - th[w] * s;
      } else {
        a[w] = h * (one - s);
      }
    }
  }
  // 2. the adjoint, from dL/dU[T]
  V ak[WB], av[WB], ib[WB];
  for (int w = 0; w < WB; ++w) {
    a[w] = gv != nullptr ? B::load(gv + w * B::LANES) : zero;
    ak[w] = zero;
    av[w] = zero;
    ib[w] = B::load(ip + w * B::LANES);
  }
  for (int64_t t = T - 1; t >= 0; --t) {
    const S* got = go + t * stride;
    for (int w = 0; w < WB; ++w) {
      const V h = H[t * WB + w];
      const V gO = B::load(got + w * B::LANES);
      V gH, gV;
      adjoint_step<SURR, SOFT, DETACH>(h, th[w], ib[w], gO, a[w], one, zero, half, three_halves,
                                       gH, gV);
      av[w] += gV;
      ak[w] += gH * D[t * WB + w];
      if (gx != nullptr) B::store(gx + t * stride + w * B::LANES, DECAY ? gH * k[w] : gH);
      a[w] = gH * (one - k[w]);
    }
  }
  for (int w = 0; w < WB; ++w) {
    B::store(ap + w * B::LANES, a[w]);
    B::store(akp + w * B::LANES, ak[w]);
    B::store(avp + w * B::LANES, av[w]);
  }
}

template <typename S>
inline void store_grad(const S* acc, int64_t mode, const Grid& g, const Item& it, int64_t i,
                       double* part, S* neuron) {
  if (mode == SCALAR || mode == ROW) {
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < it.len; ++j) sum += static_cast<double>(acc[j]);
    part[i] = sum;
  } else if (neuron != nullptr) {
    std::copy(acc, acc + it.len, neuron + it.base);
  }
}

template <typename S, int SURR, bool DECAY, bool SOFT, bool DETACH>
void backward_item(const S* __restrict__ x, const S* __restrict__ go, const S* __restrict__ gv,
                   S* __restrict__ gx, const Grid& g, const Item& it, const S* __restrict__ kb,
                   const S* __restrict__ vb, const S* __restrict__ ib, S* __restrict__ a,
                   S* __restrict__ acck, S* __restrict__ accv, S* __restrict__ tmp,
                   typename Block<S>::V* __restrict__ scratch) {
  constexpr int64_t G = Block<S>::G;
  S* tx = tmp;  // [T, G] each: x, dL/dO and dL/dX of a partial block; then dL/dU[T]
  S* tg = tx + g.T * G;
  S* tgx = tg + g.T * G;
  S* tgv = tgx + g.T * G;
  for (int64_t j0 = 0; j0 < it.len; j0 += G) {
    const int64_t n = std::min(G, it.len - j0);
    const int64_t at = it.base + j0;
    const S* gvs = gv != nullptr ? gv + at : nullptr;
    const bool whole = n == G;
    const S* xs = whole ? x + at : gather(x + at, g.N, g.T, n, tx);
    const S* gs = whole ? go + at : gather(go + at, g.N, g.T, n, tg);
    if (!whole && gvs != nullptr) gvs = gather(gvs, g.N, 1, n, tgv);
    S* gxs = gx == nullptr ? nullptr : whole ? gx + at : tgx;
    const int64_t stride = whole ? g.N : G;
    for (int64_t q = j0; q < j0 + G; q += WB * Block<S>::LANES) {
      const int64_t o = q - j0;
      backward_block<S, SURR, DECAY, SOFT, DETACH>(
          xs + o, gs + o, gvs != nullptr ? gvs + o : nullptr, gxs != nullptr ? gxs + o : nullptr,
          stride, g.T, kb + q, vb + q, ib + q, a + q, acck + q, accv + q, scratch);
    }
    if (!whole && gx != nullptr) scatter(tgx, gx + at, g.N, g.T, n);
  }
}

template <typename S, int SURR, bool DECAY, bool SOFT, bool DETACH>
void backward_all(const S* x, const S* go, const S* gv, const S* k, const S* vth, const S* v0,
                  const int64_t* modes, S* gx, const BwdOut& o, const Grid& g) {
  using V = typename Block<S>::V;
  constexpr int64_t G = Block<S>::G;
  parallel_for(g.rows * g.nchunks, grain_for(g), g.threads, [&](int64_t begin, int64_t end) {
    std::vector<S> buf(6 * CHUNK + (3 * g.T + 1) * G);
    std::vector<V> scratch(2 * g.T * WB);
    S* kb = buf.data();
    S* vb = kb + CHUNK;
    S* ib = vb + CHUNK;
    S* a = ib + CHUNK;
    S* acck = a + CHUNK;
    S* accv = acck + CHUNK;
    S* tmp = accv + CHUNK;
    for (int64_t i = begin; i < end; ++i) {
      const Item it = item_at(g, i);
      fill_param(kb, k, modes[0], g, it, S(0));
      fill_param(vb, vth, modes[1], g, it, S(1));
      if constexpr (SURR == RS) {  // only RS-SG's derivatives divide by Vthr
        for (int64_t j = 0; j < CHUNK; ++j) ib[j] = S(1) / vb[j];
      }
      fill_param(a, v0, modes[2], g, it, S(0));
      backward_item<S, SURR, DECAY, SOFT, DETACH>(x, go, gv, gx, g, it, kb, vb, ib, a, acck,
                                                  accv, tmp, scratch.data());
      store_grad(acck, modes[0], g, it, i, o.part[0], static_cast<S*>(o.neuron[0]));
      store_grad(accv, modes[1], g, it, i, o.part[1], static_cast<S*>(o.neuron[1]));
      if (o.need_gv0) store_grad(a, modes[2], g, it, i, o.part[2], static_cast<S*>(o.neuron[2]));
    }
  });
}

// ------------------------------------------------------------------------------------ dispatch
// Ask Linux to back the 2 MiB-aligned interior of a large fresh output with transparent huge
// pages (where THP is in "madvise" mode), so that the kernel's first writes take one page fault
// per 2 MiB instead of per 4 KiB. Only a hint: without THP nothing changes; the environment
// variable STABLESPIKE_HUGE_PAGES=0 turns it off.
bool huge_pages_wanted() {
  static const bool wanted = [] {
    const char* env = std::getenv("STABLESPIKE_HUGE_PAGES");
    return env == nullptr || std::string(env) != "0";
  }();
  return wanted;
}

void huge_pages(void* data, int64_t nbytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (data == nullptr || !huge_pages_wanted()) return;
  constexpr uintptr_t HUGE = uintptr_t(1) << 21;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data);
  const uintptr_t end = begin + static_cast<uintptr_t>(nbytes);
  const uintptr_t lo = (begin + HUGE - 1) & ~(HUGE - 1);
  const uintptr_t hi = end & ~(HUGE - 1);
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
#else
  (void)data;
  (void)nbytes;
#endif
}

// Per-row sums [R] (float64) of per-item partial sums (items of one row are consecutive).
void row_sums(const double* part, const Grid& g, double* sums) {
  for (int64_t r = 0; r < g.rows; ++r) {
    double sum = 0.0;
    for (int64_t c = 0; c < g.nchunks; ++c) sum += part[r * g.nchunks + c];
    sums[r] = sum;
  }
}

// 0 if the layout is valid, else a code the caller turns into a message.
int make_grid(int64_t T, int64_t rows, int64_t cols, int64_t period, int threads, Grid* g) {
  if (T < 1) return 1;
  if (rows < 0 || cols < 0 || period < 1) return 2;
  *g = {T, rows * cols, rows, cols, period, (cols + CHUNK - 1) / CHUNK, threads};
  return 0;
}

template <typename S, bool SCALE, bool DECAY, bool SOFT>
int forward_impl(const S* x, const S* k, const S* vth, const S* v0, const int64_t* modes, int64_t T,
                 int64_t rows, int64_t cols, int64_t period, S* out, S* v_last, bool* fired,
                 double* stat, int threads) {
  Grid g;
  if (int err = make_grid(T, rows, cols, period, threads, &g)) return err;
  huge_pages(out, static_cast<int64_t>(sizeof(S)) * g.T * g.N);
  const int64_t items = g.rows * g.nchunks;
  std::vector<double> parts(stat != nullptr ? 3 * items : 0, 0.0);
  forward_all<S, SCALE, DECAY, SOFT>(x, k, vth, v0, modes, out, v_last, fired,
                                     stat != nullptr ? parts.data() : nullptr, g);
  if (stat != nullptr) {
    for (int p = 0; p < 3; ++p) row_sums(parts.data() + p * items, g, stat + p * g.rows);
  }
  return 0;
}

// rowsum[p] ([R] float64, modes SCALAR / ROW) or neuron[p] ([N], modes COL / FULL) receives the
// gradient of k, Vthr, U[0]; U[0]'s only if need_gv0 (else both may be null).
template <typename S, int SURR, bool DECAY, bool SOFT, bool DETACH>
int backward_impl(const S* grad_out, const S* grad_v, const S* x, const S* k, const S* vth,
                  const S* v0, const int64_t* modes, int64_t T, int64_t rows, int64_t cols,
                  int64_t period, int need_gv0, S* gx, double* const* rowsum, S* const* neuron,
                  int threads) {
  Grid g;
  if (int err = make_grid(T, rows, cols, period, threads, &g)) return err;
  huge_pages(gx, static_cast<int64_t>(sizeof(S)) * g.T * g.N);
  const int64_t items = g.rows * g.nchunks;
  std::vector<double> parts(3 * items, 0.0);
  BwdOut o{};
  o.need_gv0 = need_gv0 != 0;
  for (int p = 0; p < 3; ++p) {
    o.part[p] = parts.data() + p * items;
    o.neuron[p] = neuron[p];
  }
  backward_all<S, SURR, DECAY, SOFT, DETACH>(x, grad_out, grad_v, k, vth, v0, modes, gx, o, g);
  for (int p = 0; p < 3; ++p) {
    const bool per_neuron = modes[p] == COL || modes[p] == FULL;
    if (!per_neuron && rowsum[p] != nullptr) row_sums(o.part[p], g, rowsum[p]);
  }
  return 0;
}

}  // namespace

// One build holds one neuron configuration, chosen by the macros below (cpu_build.py passes them
// with -D): the dtype, the surrogate (0 TrSG, 1 AS-SG, 2 RS-SG; TrSG scales the output by Vthr),
// decay_input, soft reset and detach_reset. Small builds compile in about a second each.
#ifndef SS_SCALAR
#define SS_SCALAR float
#endif
#ifndef SS_SURROGATE
#define SS_SURROGATE 0
#endif
#ifndef SS_DECAY
#define SS_DECAY 1
#endif
#ifndef SS_SOFT
#define SS_SOFT 1
#endif
#ifndef SS_DETACH
#define SS_DETACH 0
#endif

using Scalar = SS_SCALAR;

// Forward: O, U[T], the fired mask and, when stat is not null, MP-Init's statistic of U[T] as
// per-row sums [3, R] in float64 (sum of finite U[T] over fired neurons, their count, non-finite
// count). Both entry points return 0, or an error code (1: T < 1, 2: bad layout).
extern "C" int stablespike_lif_forward(const Scalar* x, const Scalar* k, const Scalar* vth,
                                       const Scalar* v0, const int64_t* modes, int64_t T,
                                       int64_t rows, int64_t cols, int64_t period, Scalar* out,
                                       Scalar* v_last, bool* fired, double* stat, int threads) {
  return forward_impl<Scalar, SS_SURROGATE == TRSG, SS_DECAY != 0, SS_SOFT != 0>(
      x, k, vth, v0, modes, T, rows, cols, period, out, v_last, fired, stat, threads);
}

extern "C" int stablespike_lif_backward(const Scalar* grad_out, const Scalar* grad_v,
                                        const Scalar* x, const Scalar* k, const Scalar* vth,
                                        const Scalar* v0, const int64_t* modes, int64_t T,
                                        int64_t rows, int64_t cols, int64_t period, int need_gv0,
                                        Scalar* gx, double* const* rowsum, Scalar* const* neuron,
                                        int threads) {
  return backward_impl<Scalar, SS_SURROGATE, SS_DECAY != 0, SS_SOFT != 0, SS_DETACH != 0>(
      grad_out, grad_v, x, k, vth, v0, modes, T, rows, cols, period, need_gv0, gx, rowsum, neuron,
      threads);
}

// The vector width this build was compiled for (16, 32 or 64 bytes), for tests and messages.
extern "C" int stablespike_lif_vector_bytes() { return VBYTES; }
