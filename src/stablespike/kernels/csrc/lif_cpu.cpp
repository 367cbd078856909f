// Fused multi-step TrLIF forward and backward on the CPU (stablespike.kernels.cpu builds this).
//
// One step of the input is viewed as a row-major [R, L] matrix of N neurons; work items are
// chunks of at most CHUNK neurons of one row, run in parallel (at::parallel_for / OpenMP), and
// each item runs all T steps with its state in small local buffers, in loops the compiler
// vectorises (#pragma omp simd). The arithmetic repeats the reference's operations in the
// same order (built with -ffp-contract=off, no fast-math) so spikes match it bit for bit:
//
//   H = U + (X - U) * k      (decay_input)        H = U * (1 - k) + X      (otherwise)
//   S = H >= Vthr;  O = Vthr * S (TrSG) or S;     U = H - Vthr * S (soft)  or  H * (1 - S) (hard)
//
// Backward saves nothing but X: it recomputes H and dH/dk for one chunk into a T x CHUNK scratch
// buffer, then runs the adjoint a[t] = dL/dU[t] from t = T down to 1:
//
//   gH = gO * dO/dH + a * dU/dH;   gX = gH * k (or gH);   a[t-1] = gH * (1 - k)
//   gk += gH * dH/dk;   gVthr += gO * dO/dVthr + a * dU/dVthr;   gU0 = a[0]
//
// with the surrogate derivatives of stablespike.functional.surrogate (see kernels/fused.py).

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace {

constexpr int64_t CHUNK = 256;
enum Surrogate : int64_t { TRSG = 0, AS = 1, RS = 2 };
enum Mode : int64_t { SCALAR = 0, ROW = 1, COL = 2, FULL = 3 };

struct Grid {
  int64_t T, N, rows, cols, period, nchunks;
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

// Copy the values of one constant that the neurons of an item read into dst[0..len).
template <typename S>
inline void fill_param(S* __restrict__ dst, const S* __restrict__ p, int64_t mode, const Grid& g,
                       const Item& it) {
  if (mode == SCALAR || mode == ROW) {
    const S v = mode == SCALAR ? p[0] : p[it.row % g.period];
    for (int64_t j = 0; j < it.len; ++j) dst[j] = v;
  } else {
    const S* src = mode == COL ? p + it.col0 : p + it.base;
    std::copy(src, src + it.len, dst);
  }
}

// Grain (in items) so that a task holds at least ~32k neuron-steps.
inline int64_t grain_for(const Grid& g) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, CHUNK * g.T));
}

// ------------------------------------------------------------------------------------- forward
template <typename S, bool SCALE, bool DECAY, bool SOFT>
void forward_item(const S* __restrict__ x, S* __restrict__ out, S* __restrict__ v_last,
                  bool* __restrict__ fired, const Grid& g, const Item& it, const S* __restrict__ kb,
                  const S* __restrict__ vb, S* __restrict__ ub, S* __restrict__ fb) {
  const int64_t len = it.len;
  for (int64_t j = 0; j < len; ++j) fb[j] = S(0);
  for (int64_t t = 0; t < g.T; ++t) {
    const S* __restrict__ xt = x + t * g.N + it.base;
    S* __restrict__ ot = out + t * g.N + it.base;
#pragma omp simd
    for (int64_t j = 0; j < len; ++j) {
      const S u = ub[j];
      const S k = kb[j];
      const S th = vb[j];
      S h;
      if constexpr (DECAY) {
        h = u + (xt[j] - u) * k;
      } else {
        h = u * (S(1) - k) + xt[j];
      }
      const S s = static_cast<S>(h >= th);
      ot[j] = SCALE ? th * s : s;
      if constexpr (SOFT) {
        ub[j] = h - th * s;
      } else {
        ub[j] = h * (S(1) - s);
      }
      fb[j] += s;  // spike count; fired = count != 0
    }
  }
  for (int64_t j = 0; j < len; ++j) {
    v_last[it.base + j] = ub[j];
    fired[it.base + j] = fb[j] != S(0);
  }
}

template <typename S, bool SCALE, bool DECAY, bool SOFT>
void forward_all(const S* x, const S* k, const S* vth, const S* v0, const int64_t* modes, S* out,
                 S* v_last, bool* fired, const Grid& g) {
  at::parallel_for(0, g.rows * g.nchunks, grain_for(g), [&](int64_t begin, int64_t end) {
    std::vector<S> buf(4 * CHUNK);
    S* kb = buf.data();
    S* vb = kb + CHUNK;
    S* ub = vb + CHUNK;
    S* fb = ub + CHUNK;
    for (int64_t i = begin; i < end; ++i) {
      const Item it = item_at(g, i);
      fill_param(kb, k, modes[0], g, it);
      fill_param(vb, vth, modes[1], g, it);
      fill_param(ub, v0, modes[2], g, it);
      forward_item<S, SCALE, DECAY, SOFT>(x, out, v_last, fired, g, it, kb, vb, ub, fb);
    }
  });
}

// ------------------------------------------------------------------------------------ backward
struct BwdOut {
  // per-item partial sums (modes SCALAR / ROW) or per-neuron values (COL / FULL)
  double* part[3];
  void* neuron[3];
};

template <typename S, int SURR, bool DECAY, bool SOFT, bool DETACH>
void backward_item(const S* __restrict__ x, const S* __restrict__ go, const S* __restrict__ gv,
                   S* __restrict__ gx, const Grid& g, const Item& it, const S* __restrict__ kb,
                   const S* __restrict__ vb, const S* __restrict__ ib, S* __restrict__ a,
                   S* __restrict__ H,
                   S* __restrict__ D, S* __restrict__ acck, S* __restrict__ accv,
                   S* __restrict__ sink) {
  const int64_t len = it.len;
  // 1. recompute H[t] and dH/dk[t] from U[0] (held in `a` on entry)
  for (int64_t t = 0; t < g.T; ++t) {
    const S* __restrict__ xt = x + t * g.N + it.base;
    S* __restrict__ Ht = H + t * CHUNK;
    S* __restrict__ Dt = D + t * CHUNK;
#pragma omp simd
    for (int64_t j = 0; j < len; ++j) {
      const S u = a[j];
      const S k = kb[j];
      const S th = vb[j];
      S h;
      if constexpr (DECAY) {
        const S diff = xt[j] - u;
        h = u + diff * k;
        Dt[j] = diff;
      } else {
        h = u * (S(1) - k) + xt[j];
        Dt[j] = -u;
      }
      Ht[j] = h;
      const S s = static_cast<S>(h >= th);
      if constexpr (SOFT) {
        a[j] = h - th * s;
      } else {
        a[j] = h * (S(1) - s);
      }
    }
  }
  // 2. the adjoint, from dL/dU[T]
  for (int64_t j = 0; j < len; ++j) {
    a[j] = gv != nullptr ? gv[it.base + j] : S(0);
    acck[j] = S(0);
    accv[j] = S(0);
  }
  for (int64_t t = g.T - 1; t >= 0; --t) {
    const S* __restrict__ got = go + t * g.N + it.base;
    // without a gx to write, the values go to a scratch row
    S* __restrict__ gxt = gx != nullptr ? gx + t * g.N + it.base : sink;
    const S* __restrict__ Ht = H + t * CHUNK;
    const S* __restrict__ Dt = D + t * CHUNK;
#pragma omp simd
    for (int64_t j = 0; j < len; ++j) {
      const S h = Ht[j];
      const S th = vb[j];
      const S k = kb[j];
      const S gO = got[j];
      const S aj = a[j];
      const S s = static_cast<S>(h >= th);
      // dO/dH and dO/dVthr of the output; Vthr dS/dH, Vthr dS/dVthr, H dS/dH and H dS/dVthr of
      // the spike S in the reset (with r = H / Vthr these need no further division)
      S dOdH, dOdV, tdSdH, tdSdV, hdSdH, hdSdV;
      if constexpr (SURR == AS) {
        const S xa = h - th;
        const S w = static_cast<S>((xa > S(-0.5)) & (xa < S(0.5)));
        dOdH = w;
        dOdV = -w;
        tdSdH = th * w;
        tdSdV = -th * w;
        hdSdH = h * w;
        hdSdV = -h * w;
      } else {
        const S r = h / th;
        const S w = static_cast<S>((r > S(0.5)) & (r < S(1.5)));
        if constexpr (SURR == TRSG) {  // O = Vthr S
          dOdH = w;
          dOdV = s - r * w;
        } else {  // RS: O = S, dS/dH = w / Vthr, dS/dVthr = -(r / Vthr) w
          dOdH = w * ib[j];
          dOdV = -(r * ib[j]) * w;
        }
        tdSdH = w;
        tdSdV = -r * w;
        hdSdH = r * w;
        hdSdV = -(r * r) * w;
      }
      // dU/dH and dU/dVthr of the reset
      S dUdH, dUdV;
      if constexpr (SOFT && DETACH) {
        dUdH = S(1);
        dUdV = -s;
      } else if constexpr (SOFT) {
        dUdH = S(1) - tdSdH;
        dUdV = -s - tdSdV;
      } else if constexpr (DETACH) {
        dUdH = S(1) - s;
        dUdV = S(0);
      } else {
        dUdH = (S(1) - s) - hdSdH;
        dUdV = -hdSdV;
      }
      const S gH = gO * dOdH + aj * dUdH;
      accv[j] += gO * dOdV + aj * dUdV;
      acck[j] += gH * Dt[j];
      gxt[j] = DECAY ? gH * k : gH;
      a[j] = gH * (S(1) - k);
    }
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
void backward_all(const S* x, const S* go, const S* gv, const S* k, const S* vth, const S* v0,
                  const int64_t* modes, S* gx, const BwdOut& o, const Grid& g) {
  at::parallel_for(0, g.rows * g.nchunks, grain_for(g), [&](int64_t begin, int64_t end) {
    std::vector<S> buf((7 + 2 * g.T) * CHUNK);
    S* kb = buf.data();
    S* vb = kb + CHUNK;
    S* ib = vb + CHUNK;
    S* a = ib + CHUNK;
    S* acck = a + CHUNK;
    S* accv = acck + CHUNK;
    S* H = accv + CHUNK;
    S* D = H + g.T * CHUNK;
    S* sink = D + g.T * CHUNK;
    for (int64_t i = begin; i < end; ++i) {
      const Item it = item_at(g, i);
      fill_param(kb, k, modes[0], g, it);
      fill_param(vb, vth, modes[1], g, it);
      for (int64_t j = 0; j < it.len; ++j) ib[j] = S(1) / vb[j];
      fill_param(a, v0, modes[2], g, it);
      backward_item<S, SURR, DECAY, SOFT, DETACH>(x, go, gv, gx, g, it, kb, vb, ib, a, H, D,
                                                  acck, accv, sink);
      store_grad(acck, modes[0], g, it, i, o.part[0], static_cast<S*>(o.neuron[0]));
      store_grad(accv, modes[1], g, it, i, o.part[1], static_cast<S*>(o.neuron[1]));
      store_grad(a, modes[2], g, it, i, o.part[2], static_cast<S*>(o.neuron[2]));
    }
  });
}

// ------------------------------------------------------------------------------------ dispatch
template <typename F>
void with_bool(bool b, F&& f) {
  if (b) {
    f(std::true_type{});
  } else {
    f(std::false_type{});
  }
}

template <typename F>
void with_surrogate(int64_t s, F&& f) {
  switch (s) {
    case TRSG:
      f(std::integral_constant<int, TRSG>{});
      break;
    case AS:
      f(std::integral_constant<int, AS>{});
      break;
    case RS:
      f(std::integral_constant<int, RS>{});
      break;
    default:
      TORCH_CHECK(false, "lif_cpu: unknown surrogate code ", s);
  }
}

Grid make_grid(const at::Tensor& x, int64_t rows, int64_t cols, int64_t period) {
  TORCH_CHECK(x.dim() >= 1 && x.size(0) >= 1, "lif_cpu: x must be [T, ...] with T >= 1");
  const int64_t N = x.numel() / x.size(0);
  TORCH_CHECK(rows * cols == N, "lif_cpu: layout ", rows, " x ", cols, " != ", N, " neurons");
  TORCH_CHECK(period >= 1, "lif_cpu: period must be >= 1");
  return {x.size(0), N, rows, cols, period, (cols + CHUNK - 1) / CHUNK};
}

void check_param(const at::Tensor& p, const at::Tensor& x, int64_t mode, const Grid& g,
                 const char* name) {
  TORCH_CHECK(p.scalar_type() == x.scalar_type(), "lif_cpu: ", name, " has dtype ",
              p.scalar_type(), ", expected ", x.scalar_type());
  TORCH_CHECK(p.is_contiguous(), "lif_cpu: ", name, " must be contiguous");
  const int64_t need = mode == SCALAR ? 1 : mode == ROW ? g.period : mode == COL ? g.cols : g.N;
  TORCH_CHECK(p.numel() == need, "lif_cpu: ", name, " has ", p.numel(), " values, mode ", mode,
              " needs ", need);
}

std::vector<at::Tensor> lif_forward(const at::Tensor& x, const at::Tensor& k,
                                    const at::Tensor& vth, const at::Tensor& v0, int64_t rows,
                                    int64_t cols, int64_t period, at::IntArrayRef modes,
                                    bool scale_output, bool decay_input, bool soft_reset) {
  TORCH_CHECK(x.is_contiguous(), "lif_cpu: x must be contiguous");
  TORCH_CHECK(modes.size() == 3, "lif_cpu: expected 3 modes");
  const Grid g = make_grid(x, rows, cols, period);
  check_param(k, x, modes[0], g, "k");
  check_param(vth, x, modes[1], g, "threshold");
  check_param(v0, x, modes[2], g, "v0");
  auto step_sizes = x.sizes().slice(1);
  at::Tensor out = at::empty_like(x);
  at::Tensor v_last = at::empty(step_sizes, x.options());
  at::Tensor fired = at::empty(step_sizes, x.options().dtype(at::kBool));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_cpu_forward", [&] {
    with_bool(scale_output, [&](auto sc) {
      with_bool(decay_input, [&](auto de) {
        with_bool(soft_reset, [&](auto so) {
          forward_all<scalar_t, decltype(sc)::value, decltype(de)::value, decltype(so)::value>(
              x.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(), vth.data_ptr<scalar_t>(),
              v0.data_ptr<scalar_t>(), modes.data(), out.data_ptr<scalar_t>(),
              v_last.data_ptr<scalar_t>(), fired.data_ptr<bool>(), g);
        });
      });
    });
  });
  return {out, v_last, fired};
}

// Returns gx (empty if not need_gx) and, for k, Vthr and U[0], per-row sums [R] in float64 (modes
// SCALAR and ROW) or per-neuron values [N] (COL and FULL); U[0]'s is meaningless if not need_gv0.
std::vector<at::Tensor> lif_backward(const at::Tensor& grad_out,
                                     const std::optional<at::Tensor>& grad_v, const at::Tensor& x,
                                     const at::Tensor& k, const at::Tensor& vth,
                                     const at::Tensor& v0, int64_t rows, int64_t cols,
                                     int64_t period, at::IntArrayRef modes,
                                     int64_t surrogate, bool decay_input, bool soft_reset,
                                     bool detach_reset, bool need_gx, bool need_gv0) {
  TORCH_CHECK(x.is_contiguous() && grad_out.is_contiguous(), "lif_cpu: tensors must be contiguous");
  TORCH_CHECK(grad_out.sizes() == x.sizes() && grad_out.scalar_type() == x.scalar_type(),
              "lif_cpu: grad_out must match x");
  TORCH_CHECK(modes.size() == 3, "lif_cpu: expected 3 modes");
  const Grid g = make_grid(x, rows, cols, period);
  check_param(k, x, modes[0], g, "k");
  check_param(vth, x, modes[1], g, "threshold");
  check_param(v0, x, modes[2], g, "v0");
  const at::Tensor* gv = nullptr;
  if (grad_v.has_value() && grad_v->defined()) {
    TORCH_CHECK(grad_v->is_contiguous() && grad_v->numel() == g.N &&
                    grad_v->scalar_type() == x.scalar_type(),
                "lif_cpu: grad_v must be a contiguous step-shaped tensor of x's dtype");
    gv = &grad_v.value();
  }
  at::Tensor gx = need_gx ? at::empty_like(x) : at::empty({0}, x.options());
  const int64_t items = g.rows * g.nchunks;
  std::vector<double> parts(3 * items, 0.0);
  std::vector<at::Tensor> neuron(3);
  BwdOut o{};
  for (int p = 0; p < 3; ++p) {
    o.part[p] = parts.data() + p * items;
    const bool per_neuron = modes[p] == COL || modes[p] == FULL;
    const bool wanted = p < 2 || need_gv0;
    neuron[p] = (per_neuron && wanted) ? at::empty({g.N}, x.options()) : at::Tensor();
    o.neuron[p] = neuron[p].defined() ? neuron[p].data_ptr() : nullptr;
  }
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_cpu_backward", [&] {
    with_surrogate(surrogate, [&](auto su) {
      with_bool(decay_input, [&](auto de) {
        with_bool(soft_reset, [&](auto so) {
          with_bool(detach_reset, [&](auto dt) {
            backward_all<scalar_t, decltype(su)::value, decltype(de)::value, decltype(so)::value,
                         decltype(dt)::value>(
                x.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(),
                gv != nullptr ? gv->data_ptr<scalar_t>() : nullptr, k.data_ptr<scalar_t>(),
                vth.data_ptr<scalar_t>(), v0.data_ptr<scalar_t>(), modes.data(),
                need_gx ? gx.data_ptr<scalar_t>() : nullptr, o, g);
          });
        });
      });
    });
  });
  std::vector<at::Tensor> result{gx};
  for (int p = 0; p < 3; ++p) {
    if (neuron[p].defined()) {
      result.push_back(neuron[p]);
      continue;
    }
    // per-row sums of the item partials, accumulated in double
    at::Tensor rows_sum = at::empty({g.rows}, x.options().dtype(at::kDouble));
    double* rs = rows_sum.data_ptr<double>();
    for (int64_t r = 0; r < g.rows; ++r) {
      double sum = 0.0;
      for (int64_t c = 0; c < g.nchunks; ++c) sum += o.part[p][r * g.nchunks + c];
      rs[r] = sum;
    }
    result.push_back(rows_sum);
  }
  return result;
}

}  // namespace

// torch.ops.stablespike_cpu.forward / backward (plain kernels; autograd lives in kernels/ops.py)
TORCH_LIBRARY(stablespike_cpu, m) {
  m.def("forward", &lif_forward);
  m.def("backward", &lif_backward);
}
