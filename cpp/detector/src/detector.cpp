#include "e2e_gnn/detector.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace e2e_gnn::detector {
namespace {

constexpr double kPi = 3.141592653589793;
constexpr double kTwoPi = 6.283185307179586;
constexpr double kSqrtHalf = 0.7071067811865476;
// pT = 0.3 B R (GeV, T, m) for a unit charge on a circle of radius R.
constexpr double kLooperConstant = 0.3;
// Impact points are numbered as 64-bit cells: |eta / cell_eta| and windows stay far below.
constexpr double kMaxCellCoordinate = 1e15;
// Lateral widths (cells) up to this: a window of at most 401 x 401 cells per shower.
constexpr double kMaxSigma = 100.0;
// Cells per event of a grid (a bit map of them is kept while an event is deposited).
constexpr std::int64_t kMaxCellsPerEvent = std::int64_t{1} << 24;

std::string at(const char* what, std::size_t i) {
  return std::string(what) + "[" + std::to_string(i) + "]";
}

void require_finite(double value, const char* what, std::size_t i) {
  if (!std::isfinite(value)) {
    throw std::invalid_argument(at(what, i) + " must be finite, got " + std::to_string(value));
  }
}

void require_event(std::int64_t event, std::int64_t n_events, const char* what, std::size_t i) {
  if (event < 0 || event >= n_events) {
    throw std::out_of_range(at(what, i) + " = " + std::to_string(event) +
                            " is outside [0, " + std::to_string(n_events) + ")");
  }
}

// NumPy's floor modulo a % b for b > 0 (npy_divmod): fmod, plus b for a negative remainder,
// +0.0 for a zero one. Within (-b, 2b) the same values come without fmod: fmod(a, b) is a
// itself there, or a - b for a >= b, which is exact (Sterbenz).
double floor_mod(double a, double b) {
  if (a > -b && a < 2.0 * b) {
    if (a < 0.0) {
      return a + b;
    }
    return (a >= b ? a - b : a) + 0.0;  // + 0.0: -0.0 becomes +0.0
  }
  double mod = std::fmod(a, b);
  if (mod != 0.0) {
    if ((b < 0.0) != (mod < 0.0)) {
      mod += b;
    }
  } else {
    mod = std::copysign(0.0, b);
  }
  return mod;
}

// a mod b in [0, b) for b > 0; windows stay within a period or two of [0, b), where no
// (slow) integer division is needed.
std::int64_t floor_mod(std::int64_t a, std::int64_t b) {
  if (a >= 0 && a < b) {
    return a;
  }
  if (a < 0 && a >= -b) {
    return a + b;
  }
  if (a >= b && a < 2 * b) {
    return a - b;
  }
  const std::int64_t mod = a % b;
  return mod < 0 ? mod + b : mod;
}

// Where each event's rows start when rows are grouped by event, `counts` rows per event.
std::vector<std::size_t> event_starts(const std::vector<std::int64_t>& counts) {
  std::vector<std::size_t> start(counts.size(), 0);
  for (std::size_t e = 1; e < start.size(); ++e) {
    start[e] = start[e - 1] + static_cast<std::size_t>(counts[e - 1]);
  }
  return start;
}

// Python's round() of a double: to nearest, ties to even.
std::int64_t round_half_even(double x) { return static_cast<std::int64_t>(std::nearbyint(x)); }

// Shares of a Gaussian centred at u (cell units, width sigma) in the cells
// floor(u) - half .. floor(u) + half, renormalised to 1 over them (sigma = 0: the impact cell).
struct Window {
  std::int64_t first = 0;
  std::vector<double> share;

  void fill(double u, double sigma, std::int64_t half, double inverse_sigma) {
    const auto centre = static_cast<std::int64_t>(std::floor(u));
    first = centre - half;
    const auto width = static_cast<std::size_t>(2 * half + 1);
    share.resize(width);
    if (sigma == 0.0) {
      share[0] = 1.0;
      return;
    }
    double total = 0.0;
    for (std::size_t i = 0; i < width; ++i) {
      const double low = (static_cast<double>(first + static_cast<std::int64_t>(i)) - u) / sigma;
      share[i] = ndtr(low + inverse_sigma) - ndtr(low);
      total += share[i];
    }
    for (double& s : share) {
      s /= total;
    }
  }
};

// One lateral width of the showers: window half width and 1 / sigma.
struct Width {
  double sigma;
  std::int64_t half;
  double inverse;
};

// The occupied cells of a chunk as CaloDeposits keeps them.
struct CellColumns {
  std::vector<std::int64_t>& cells;
  std::vector<std::int32_t>& ieta;
  std::vector<std::int32_t>& iphi;
  std::vector<double>& energy;
  std::vector<std::int64_t>& track_begin;
  std::vector<std::int64_t>& tracks;
  std::vector<double>& track_energy;
};

// Accumulates the deposits of one event (cells touched get a slot, in first-touch order, found
// through a small open-addressing table), then hands them out by increasing cell (from a bit
// map of the touched cells). `reserve` sizes it for the largest event first.
class EventCells {
 public:
  EventCells(std::int64_t cells_per_event, std::int64_t n_layers)
      : touched_((static_cast<std::size_t>(cells_per_event) + 63) / 64, 0),
        n_layers_(static_cast<std::size_t>(n_layers)) {}

  // Room for the largest event: `cells` distinct cells and `adds` deposits (at most one new
  // (cell, track) pair each).
  void reserve(std::size_t cells, std::size_t adds) {
    std::size_t buckets = 64;
    while (buckets < 2 * cells) {
      buckets *= 2;
    }
    bucket_cell_.assign(buckets, -1);
    bucket_slot_.assign(buckets, 0);
    bucket_mask_ = buckets - 1;
    cell_.resize(cells);
    ieta_.resize(cells);
    iphi_.resize(cells);
    pair_head_.resize(cells);
    sum_.resize(cells * n_layers_);
    pair_track_.resize(adds);
    pair_next_.resize(adds);
    pair_sum_.resize(adds * n_layers_);
  }

  // Adds weight x layers to cell (ieta - ieta_min, iphi), numbered `cell` in the event.
  void add(std::int64_t cell, std::int32_t ieta, std::int32_t iphi, std::int64_t track,
           double weight, const double* layers) {
    const auto at = static_cast<std::size_t>(cell);
    std::size_t bucket = (at * 0x9E3779B97F4A7C15ULL >> 32) & bucket_mask_;
    while (bucket_cell_[bucket] >= 0 && bucket_cell_[bucket] != cell) {
      bucket = (bucket + 1) & bucket_mask_;
    }
    std::int32_t slot = bucket_cell_[bucket] < 0 ? -1 : bucket_slot_[bucket];
    if (slot < 0) {
      slot = static_cast<std::int32_t>(n_slots_++);
      bucket_cell_[bucket] = cell;
      bucket_slot_[bucket] = slot;
      used_.push_back(bucket);
      touched_[at / 64] |= std::uint64_t{1} << (at % 64);
      cell_[static_cast<std::size_t>(slot)] = cell;
      ieta_[static_cast<std::size_t>(slot)] = ieta;
      iphi_[static_cast<std::size_t>(slot)] = iphi;
      pair_head_[static_cast<std::size_t>(slot)] = -1;
      std::fill_n(sum_.data() + static_cast<std::size_t>(slot) * n_layers_, n_layers_, 0.0);
    }
    double* sum = sum_.data() + static_cast<std::size_t>(slot) * n_layers_;
    for (std::size_t k = 0; k < n_layers_; ++k) {
      sum[k] += weight * layers[k];
    }
    if (track < 0) {
      return;
    }
    std::int32_t pair = pair_head_[static_cast<std::size_t>(slot)];
    while (pair >= 0 && pair_track_[static_cast<std::size_t>(pair)] != track) {
      pair = pair_next_[static_cast<std::size_t>(pair)];
    }
    if (pair < 0) {
      pair = static_cast<std::int32_t>(n_pairs_++);
      pair_track_[static_cast<std::size_t>(pair)] = track;
      pair_next_[static_cast<std::size_t>(pair)] = pair_head_[static_cast<std::size_t>(slot)];
      pair_head_[static_cast<std::size_t>(slot)] = pair;
      std::fill_n(pair_sum_.data() + static_cast<std::size_t>(pair) * n_layers_, n_layers_, 0.0);
    }
    double* pair_sum = pair_sum_.data() + static_cast<std::size_t>(pair) * n_layers_;
    for (std::size_t k = 0; k < n_layers_; ++k) {
      pair_sum[k] += weight * layers[k];
    }
  }

  // Appends the event's cells (numbered from `offset`) in increasing order, then resets.
  void flush(std::int64_t offset, const CellColumns& out) {
    // increasing cells: from the bit map of touched cells when it is small next to them,
    // else by sorting
    order_.clear();
    if (touched_.size() <= 16 * n_slots_) {
      for (std::size_t w = 0; w < touched_.size(); ++w) {
        for (std::uint64_t bits = touched_[w]; bits != 0; bits &= bits - 1) {
          const auto at = static_cast<std::int64_t>(w * 64) + __builtin_ctzll(bits);
          order_.push_back(slot_of(at));
        }
        touched_[w] = 0;
      }
    } else {
      for (std::size_t slot = 0; slot < n_slots_; ++slot) {
        order_.push_back(static_cast<std::int32_t>(slot));
        const auto at = static_cast<std::size_t>(cell_[slot]);
        touched_[at / 64] = 0;
      }
      std::sort(order_.begin(), order_.end(),
                [&](std::int32_t a, std::int32_t b) { return cell_[a] < cell_[b]; });
    }
    const std::size_t first_cell = out.cells.size();
    const std::size_t first_pair = out.tracks.size();
    out.cells.resize(first_cell + n_slots_);
    out.ieta.resize(first_cell + n_slots_);
    out.iphi.resize(first_cell + n_slots_);
    out.energy.resize((first_cell + n_slots_) * n_layers_);
    out.track_begin.resize(first_cell + n_slots_ + 1);
    out.tracks.resize(first_pair + n_pairs_);
    out.track_energy.resize((first_pair + n_pairs_) * n_layers_);
    std::size_t c = first_cell;
    std::size_t pair_out = first_pair;
    for (const std::int32_t s : order_) {
      const auto slot = static_cast<std::size_t>(s);
      out.cells[c] = offset + cell_[slot];
      out.ieta[c] = ieta_[slot];
      out.iphi[c] = iphi_[slot];
      std::copy_n(sum_.data() + slot * n_layers_, n_layers_, out.energy.data() + c * n_layers_);
      pairs_.clear();
      for (std::int32_t p = pair_head_[slot]; p >= 0; p = pair_next_[static_cast<std::size_t>(p)]) {
        pairs_.push_back(p);
      }
      if (pairs_.size() > 1) {
        std::sort(pairs_.begin(), pairs_.end(), [&](std::int32_t a, std::int32_t b) {
          return pair_track_[static_cast<std::size_t>(a)] <
                 pair_track_[static_cast<std::size_t>(b)];
        });
      }
      for (const std::int32_t p : pairs_) {
        const auto pair = static_cast<std::size_t>(p);
        out.tracks[pair_out] = pair_track_[pair];
        std::copy_n(pair_sum_.data() + pair * n_layers_, n_layers_,
                    out.track_energy.data() + pair_out * n_layers_);
        ++pair_out;
      }
      out.track_begin[c + 1] = static_cast<std::int64_t>(pair_out);
      ++c;
    }
    for (const std::size_t bucket : used_) {
      bucket_cell_[bucket] = -1;
    }
    used_.clear();
    n_slots_ = 0;
    n_pairs_ = 0;
  }

 private:
  std::int32_t slot_of(std::int64_t cell) const {
    std::size_t bucket = (static_cast<std::size_t>(cell) * 0x9E3779B97F4A7C15ULL >> 32) & bucket_mask_;
    while (bucket_cell_[bucket] != cell) {
      bucket = (bucket + 1) & bucket_mask_;
    }
    return bucket_slot_[bucket];
  }

  std::vector<std::uint64_t> touched_;
  std::size_t n_layers_;
  std::vector<std::int64_t> bucket_cell_;
  std::vector<std::int32_t> bucket_slot_;
  std::size_t bucket_mask_ = 0;
  std::vector<std::size_t> used_;
  std::size_t n_slots_ = 0;
  std::size_t n_pairs_ = 0;
  std::vector<std::int64_t> cell_;
  std::vector<std::int32_t> ieta_;
  std::vector<std::int32_t> iphi_;
  std::vector<double> sum_;
  std::vector<std::int32_t> pair_head_;
  std::vector<std::int64_t> pair_track_;
  std::vector<std::int32_t> pair_next_;
  std::vector<double> pair_sum_;
  std::vector<std::int32_t> order_;
  std::vector<std::int32_t> pairs_;
};

void validate_showers(const Showers& s, const CaloGrid& grid, std::int64_t n_events,
                      std::int64_t n_tracks) {
  if (s.size > 0 && (s.event == nullptr || s.energy == nullptr || s.eta == nullptr ||
                     s.phi == nullptr || s.layers == nullptr || s.sigma == nullptr ||
                     s.track == nullptr)) {
    throw std::invalid_argument("showers: every array must be given");
  }
  const auto n_layers = static_cast<std::size_t>(grid.n_layers);
  for (std::size_t i = 0; i < s.size; ++i) {
    require_event(s.event[i], n_events, "event", i);
    if (s.track[i] < -1 || s.track[i] >= n_tracks) {
      throw std::out_of_range(at("track", i) + " = " + std::to_string(s.track[i]) +
                              " is outside [-1, " + std::to_string(n_tracks) + ")");
    }
    if (!(s.energy[i] > 0.0) || !std::isfinite(s.energy[i])) {
      throw std::invalid_argument(at("energy", i) + " must be finite and > 0, got " +
                                  std::to_string(s.energy[i]));
    }
    require_finite(s.eta[i], "eta", i);
    require_finite(s.phi[i], "phi", i);
    if (std::fabs(s.eta[i] / grid.cell_eta) > kMaxCellCoordinate) {
      throw std::invalid_argument(at("eta", i) + " = " + std::to_string(s.eta[i]) +
                                  " is too far out to be given a cell");
    }
    if (!(s.sigma[i] >= 0.0) || !(s.sigma[i] <= kMaxSigma)) {
      throw std::invalid_argument(at("sigma", i) + " must be in [0, 100] cells, got " +
                                  std::to_string(s.sigma[i]));
    }
    for (std::size_t k = 0; k < n_layers; ++k) {
      require_finite(s.layers[i * n_layers + k], "layers", i * n_layers + k);
    }
  }
}

}  // namespace

double ndtr(double x) {
  const double z = x * kSqrtHalf;
  if (std::fabs(z) < 1.0) {
    return 0.5 + 0.5 * std::erf(z);
  }
  const double tail = 0.5 * std::erfc(std::fabs(z));
  return z > 0.0 ? 1.0 - tail : tail;
}

double ndtri(double p) {
  if (!(p >= 0.0 && p <= 1.0)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (p == 0.0 || p == 1.0) {
    return p == 0.0 ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  // the lower tail q = min(p, 1 - p) (1 - p is exact for p >= 0.5): Acklam's rational
  // approximation (relative error 1.2e-9), then one Halley step on q = ndtr(x)
  const double q = p > 0.5 ? 1.0 - p : p;
  double x = 0.0;
  if (q < 0.02425) {
    constexpr std::array<double, 6> c{-7.784894002430293e-03, -3.223964580411365e-01,
                                      -2.400758277161838e+00, -2.549671010429946e+00,
                                      4.374664141464968e+00,  2.938163982698783e+00};
    constexpr std::array<double, 4> d{7.784695709041462e-03, 3.224671290700398e-01,
                                      2.445134137142996e+00, 3.754408661907416e+00};
    const double t = std::sqrt(-2.0 * std::log(q));
    x = (((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]) /
        ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1.0);
  } else {
    constexpr std::array<double, 6> a{-3.969683028665376e+01, 2.209460984245205e+02,
                                      -2.759285104469687e+02, 1.383577518672690e+02,
                                      -3.066479806614716e+01, 2.506628277459239e+00};
    constexpr std::array<double, 5> b{-5.447609879822406e+01, 1.615858368580409e+02,
                                      -1.556989798598866e+02, 6.680131188771972e+01,
                                      -1.328068155288572e+01};
    const double r = q - 0.5;
    const double s = r * r;
    x = (((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * r /
        (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1.0);
  }
  constexpr double kSqrtTwoPi = 2.5066282746310002;
  const double error = 0.5 * std::erfc(-x * kSqrtHalf) - q;
  const double u = error * kSqrtTwoPi * std::exp(0.5 * x * x);
  x -= u / (1.0 + 0.5 * x * u);
  return p > 0.5 ? -x : x;
}

double phi_mod_2pi(double phi) { return floor_mod(phi, kTwoPi); }

double wrap_phi(double phi) { return floor_mod(phi + kPi, kTwoPi) - kPi; }

void dirichlet(RandomSource& rng, const std::vector<double>& alpha, double* out) {
  const std::size_t k = alpha.size();
  double largest = 0.0;
  for (std::size_t j = 0; j < k; ++j) {
    if (!(alpha[j] > 0.0) || !std::isfinite(alpha[j])) {
      throw std::invalid_argument(at("dirichlet alpha", j) + " must be finite and > 0, got " +
                                  std::to_string(alpha[j]));
    }
    largest = std::max(largest, alpha[j]);
  }
  if (k > 0 && largest < 0.1) {
    // stick-breaking with betas (NumPy's choice for small alphas: no 0 / 0)
    std::vector<double> tail_sum(k + 1, 0.0);
    for (std::size_t j = k; j-- > 0;) {
      tail_sum[j] = tail_sum[j + 1] + alpha[j];
    }
    double rest = 1.0;
    for (std::size_t j = 0; j + 1 < k; ++j) {
      const double v = rng.beta(alpha[j], tail_sum[j + 1]);
      out[j] = rest * v;
      rest *= 1.0 - v;
    }
    out[k - 1] = rest;
    return;
  }
  double total = 0.0;
  for (std::size_t j = 0; j < k; ++j) {
    out[j] = rng.standard_gamma(alpha[j]);
    total = total + out[j];
  }
  const double inverse = 1.0 / total;
  for (std::size_t j = 0; j < k; ++j) {
    out[j] = out[j] * inverse;
  }
}

Showers ShowerColumns::view() const {
  Showers s;
  s.size = event.size();
  s.event = event.data();
  s.energy = energy.data();
  s.eta = eta.data();
  s.phi = phi.data();
  s.layers = layers.data();
  s.sigma = sigma.data();
  s.track = track.data();
  return s;
}

void CaloGrid::validate() const {
  if (!(cell_eta > 0.0) || !std::isfinite(cell_eta)) {
    throw std::invalid_argument("CaloGrid.cell_eta must be finite and > 0, got " +
                                std::to_string(cell_eta));
  }
  if (n_phi < 1 || ieta_max < ieta_min || n_layers < 1) {
    throw std::invalid_argument(
        "CaloGrid needs n_phi >= 1, ieta_max >= ieta_min and n_layers >= 1, got n_phi = " +
        std::to_string(n_phi) + ", ieta = [" + std::to_string(ieta_min) + ", " +
        std::to_string(ieta_max) + "], n_layers = " + std::to_string(n_layers));
  }
  if (n_phi > kMaxCellsPerEvent || n_eta() > kMaxCellsPerEvent / n_phi ||
      n_layers > (std::int64_t{1} << 16)) {
    throw std::invalid_argument(
        "CaloGrid is too large: at most 2^24 cells per event and 2^16 layers, got n_eta = " +
        std::to_string(n_eta()) + ", n_phi = " + std::to_string(n_phi) +
        ", n_layers = " + std::to_string(n_layers));
  }
  if (!(noise >= 0.0) || !std::isfinite(noise) || !std::isfinite(threshold) ||
      !(noise_tail >= 0.0 && noise_tail <= 1.0) || !(noise_below >= 0.0 && noise_below <= 1.0)) {
    throw std::invalid_argument(
        "CaloGrid needs a finite noise >= 0, a finite threshold and probabilities in [0, 1]");
  }
}

CaloDeposits::CaloDeposits(const CaloGrid& grid, const Showers& showers, std::int64_t n_events,
                           std::int64_t n_tracks)
    : grid_(grid), n_events_(n_events) {
  grid.validate();
  if (n_events < 0 || n_tracks < 0) {
    throw std::invalid_argument("n_events and n_tracks must be >= 0");
  }
  const std::int64_t per_event = grid.cells_per_event();
  if (n_events > std::numeric_limits<std::int64_t>::max() / per_event) {
    throw std::invalid_argument("too many events: cell numbers would overflow");
  }
  validate_showers(showers, grid, n_events, n_tracks);
  const std::size_t n = showers.size;
  const auto n_layers = static_cast<std::size_t>(grid.n_layers);

  // Widths in increasing order: the former NumPy code deposited one width after the other.
  // (a handful of distinct widths in practice: a linear scan, a sort beyond)
  std::vector<double> sigmas;
  for (std::size_t i = 0; i < n && sigmas.size() <= 16; ++i) {
    if (std::find(sigmas.begin(), sigmas.end(), showers.sigma[i]) == sigmas.end()) {
      sigmas.push_back(showers.sigma[i]);
    }
  }
  if (sigmas.size() > 16) {
    sigmas.assign(showers.sigma, showers.sigma + n);
  }
  std::sort(sigmas.begin(), sigmas.end());
  sigmas.erase(std::unique(sigmas.begin(), sigmas.end()), sigmas.end());
  std::vector<std::uint32_t> rank(n);
  std::vector<Width> widths;
  for (const double sigma : sigmas) {
    widths.push_back({sigma, round_half_even(2.0 * sigma), 1.0 / sigma});
  }
  for (std::size_t i = 0; i < n; ++i) {
    rank[i] = static_cast<std::uint32_t>(
        std::lower_bound(sigmas.begin(), sigmas.end(), showers.sigma[i]) - sigmas.begin());
  }
  // Showers by event, then width, then index (a stable counting sort).
  const std::size_t n_widths = std::max<std::size_t>(sigmas.size(), 1);
  std::vector<std::size_t> start(static_cast<std::size_t>(n_events) * n_widths + 1, 0);
  for (std::size_t i = 0; i < n; ++i) {
    ++start[static_cast<std::size_t>(showers.event[i]) * n_widths + rank[i] + 1];
  }
  for (std::size_t k = 1; k < start.size(); ++k) {
    start[k] += start[k - 1];
  }
  std::vector<std::size_t> order(n);
  {
    std::vector<std::size_t> next(start.begin(), start.end() - 1);
    for (std::size_t i = 0; i < n; ++i) {
      order[next[static_cast<std::size_t>(showers.event[i]) * n_widths + rank[i]]++] = i;
    }
  }

  const double phi_cell = kTwoPi / static_cast<double>(grid.n_phi);
  // at most one new cell per window cell: reserving that (address space only) spares the
  // copies of growing vectors
  std::size_t most = 0;
  std::size_t most_in_event = 0;
  {
    std::vector<std::size_t> per_event_adds(static_cast<std::size_t>(n_events), 0);
    for (std::size_t i = 0; i < n; ++i) {
      const auto width = static_cast<std::size_t>(2 * widths[rank[i]].half + 1);
      per_event_adds[static_cast<std::size_t>(showers.event[i])] += width * width;
    }
    for (const std::size_t adds : per_event_adds) {
      most += adds;
      most_in_event = std::max(most_in_event, adds);
    }
  }
  const std::size_t most_cells =
      std::min<std::size_t>(most, static_cast<std::size_t>(n_events * per_event));
  cells_.reserve(most_cells);
  cell_ieta_.reserve(most_cells);
  cell_iphi_.reserve(most_cells);
  energy_.reserve(most_cells * n_layers);
  track_begin_.reserve(most_cells + 1);
  EventCells cells(per_event, grid.n_layers);
  cells.reserve(std::min(most_in_event, static_cast<std::size_t>(per_event)), most_in_event);
  const CellColumns columns{cells_, cell_ieta_, cell_iphi_, energy_,
                            track_begin_, track_, track_energy_};
  Window eta_window;
  Window phi_window;
  track_begin_.push_back(0);
  event_begin_.reserve(static_cast<std::size_t>(n_events) + 1);
  event_begin_.push_back(0);
  for (std::int64_t event = 0; event < n_events; ++event) {
    const std::size_t first = start[static_cast<std::size_t>(event) * n_widths];
    const std::size_t last = start[static_cast<std::size_t>(event + 1) * n_widths];
    for (std::size_t o = first; o < last; ++o) {
      const std::size_t i = order[o];
      const Width& width = widths[rank[i]];
      eta_window.fill(showers.eta[i] / grid.cell_eta, width.sigma, width.half, width.inverse);
      phi_window.fill(phi_mod_2pi(showers.phi[i]) / phi_cell, width.sigma, width.half,
                      width.inverse);
      const double* layers = showers.layers + i * n_layers;
      for (std::size_t a = 0; a < eta_window.share.size(); ++a) {
        const std::int64_t ieta = eta_window.first + static_cast<std::int64_t>(a);
        if (ieta < grid.ieta_min || ieta > grid.ieta_max) {
          continue;
        }
        const std::int64_t row = (ieta - grid.ieta_min) * grid.n_phi;
        for (std::size_t b = 0; b < phi_window.share.size(); ++b) {
          const double share = eta_window.share[a] * phi_window.share[b];
          if (!(share > 0.0)) {
            continue;
          }
          const std::int64_t iphi =
              floor_mod(phi_window.first + static_cast<std::int64_t>(b), grid.n_phi);
          cells.add(row + iphi, static_cast<std::int32_t>(ieta), static_cast<std::int32_t>(iphi),
                    showers.track[i], showers.energy[i] * share, layers);
        }
      }
    }
    cells.flush(event * per_event, columns);
    event_begin_.push_back(static_cast<std::int64_t>(cells_.size()));
  }
}

double CaloDeposits::track_energy(std::size_t cell, std::int64_t track,
                                  std::int64_t layer) const {
  if (cell >= cells_.size() || layer < 0 || layer >= grid_.n_layers) {
    throw std::out_of_range("CaloDeposits::track_energy: cell " + std::to_string(cell) +
                            " or layer " + std::to_string(layer) + " out of range");
  }
  const auto first = track_.begin() + track_begin_[cell];
  const auto last = track_.begin() + track_begin_[cell + 1];
  const auto it = std::lower_bound(first, last, track);
  if (it == last || *it != track) {
    return 0.0;
  }
  const auto pair = static_cast<std::size_t>(it - track_.begin());
  return track_energy_[pair * static_cast<std::size_t>(grid_.n_layers) +
                       static_cast<std::size_t>(layer)];
}

CaloNoise draw_noise(const CaloDeposits& deposits, RandomSource& rng) {
  const CaloGrid& grid = deposits.grid();
  const std::vector<std::int64_t>& occupied = deposits.cells();
  CaloNoise noise;
  noise.cell_noise.resize(deposits.energy().size());
  for (double& value : noise.cell_noise) {
    value = rng.normal(0.0, grid.noise);
  }
  const std::int64_t n_grid = deposits.n_events() * grid.cells_per_event();
  const std::int64_t n_noise =
      grid.noise_tail > 0.0
          ? rng.poisson(static_cast<double>(n_grid * grid.n_layers) * grid.noise_tail)
          : 0;
  if (n_noise <= 0) {
    return noise;
  }
  std::vector<std::int64_t> cell(static_cast<std::size_t>(n_noise));
  std::vector<std::int64_t> layer(cell.size());
  rng.integers(n_grid, cell.size(), cell.data());
  rng.integers(grid.n_layers, layer.size(), layer.data());
  for (std::size_t i = 0; i < cell.size(); ++i) {
    if (!std::binary_search(occupied.begin(), occupied.end(), cell[i])) {
      noise.cell.push_back(cell[i]);
      noise.layer.push_back(layer[i]);
    }
  }
  // energies from the tail above the threshold: the inverse CDF of uniforms in
  // [P(noise < threshold), 1)
  noise.energy.resize(noise.cell.size());
  for (double& energy : noise.energy) {
    const double draw = grid.noise_below + rng.random() * (1.0 - grid.noise_below);
    energy = grid.noise * ndtri(std::min(draw, 1.0 - 1e-16));
  }
  return noise;
}

NearestTrack::NearestTrack(const TrackView& tracks, std::int64_t n_events, double radius)
    : radius_(radius), n_events_(n_events) {
  if (!(radius >= 0.0) || !std::isfinite(radius)) {
    throw std::invalid_argument("truth radius must be finite and >= 0, got " +
                                std::to_string(radius));
  }
  if (n_events < 0) {
    throw std::invalid_argument("n_events must be >= 0");
  }
  if (tracks.size > 0 &&
      (tracks.event == nullptr || tracks.eta == nullptr || tracks.phi == nullptr)) {
    throw std::invalid_argument("tracks: every array must be given");
  }
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  for (std::size_t t = 0; t < tracks.size; ++t) {
    require_event(tracks.event[t], n_events, "track_event", t);
    if (t > 0 && tracks.event[t] < tracks.event[t - 1]) {
      throw std::invalid_argument("track events must not decrease, but " +
                                  at("track_event", t) + " < " + at("track_event", t - 1));
    }
    require_finite(tracks.eta[t], "track_eta", t);
    require_finite(tracks.phi[t], "track_phi", t);
    if (tracks.index != nullptr &&
        (tracks.index[t] < 0 || (t > 0 && tracks.index[t] <= tracks.index[t - 1]))) {
      throw std::invalid_argument("track indices must be >= 0 and increasing, but " +
                                  at("track_index", t) + " = " +
                                  std::to_string(tracks.index[t]));
    }
    lo = std::min(lo, static_cast<double>(tracks.eta[t]));
    hi = std::max(hi, static_cast<double>(tracks.eta[t]));
  }
  if (tracks.size == 0 || radius == 0.0) {
    return;  // nothing can be found
  }
  // eta bins at least `radius` wide (at most kMaxBins per event), each sorted by phi
  constexpr double kMaxBins = 4096.0;
  eta_lo_ = lo;
  eta_width_ = std::max(radius * (1.0 + 1e-9), (hi - lo) / kMaxBins);
  n_bins_ = static_cast<std::int64_t>(std::floor((hi - lo) / eta_width_)) + 1;
  begin_.assign(static_cast<std::size_t>(n_events * n_bins_) + 1, 0);
  entries_.resize(tracks.size);
  std::vector<std::size_t> bin(tracks.size);
  for (std::size_t t = 0; t < tracks.size; ++t) {
    const double eta = tracks.eta[t];
    const double phi = tracks.phi[t];
    bin[t] = static_cast<std::size_t>(tracks.event[t] * n_bins_ + eta_bin(eta));
    ++begin_[bin[t] + 1];
    const std::int64_t index =
        tracks.index == nullptr ? static_cast<std::int64_t>(t) : tracks.index[t];
    entries_[t] = {eta, phi, phi_mod_2pi(phi), index};
  }
  for (std::size_t b = 1; b < begin_.size(); ++b) {
    begin_[b] += begin_[b - 1];
  }
  std::vector<Entry> sorted(tracks.size);
  {
    std::vector<std::int64_t> next(begin_.begin(), begin_.end() - 1);
    for (std::size_t t = 0; t < tracks.size; ++t) {
      sorted[static_cast<std::size_t>(next[bin[t]]++)] = entries_[t];
    }
  }
  entries_ = std::move(sorted);
  for (std::size_t b = 0; b + 1 < begin_.size(); ++b) {
    std::sort(entries_.begin() + begin_[b], entries_.begin() + begin_[b + 1],
              [](const Entry& a, const Entry& c) {
                return a.folded < c.folded || (a.folded == c.folded && a.index < c.index);
              });
  }
}

std::int64_t NearestTrack::eta_bin(double eta) const {
  const double bin = std::floor((eta - eta_lo_) / eta_width_);
  return bin < 0.0 ? -1
                   : (bin >= static_cast<double>(n_bins_) ? n_bins_ : static_cast<std::int64_t>(bin));
}

std::int64_t NearestTrack::find(std::int64_t event, double eta, double phi) const {
  if (event < 0 || event >= n_events_) {
    throw std::out_of_range("NearestTrack::find: event " + std::to_string(event) +
                            " is outside [0, " + std::to_string(n_events_) + ")");
  }
  double best = radius_ * radius_;
  std::int64_t found = -1;
  if (entries_.empty()) {
    return found;
  }
  const auto consider = [&](const Entry& entry) {
    double dphi = std::fabs(phi - entry.phi);
    dphi = std::min(dphi, kTwoPi - dphi);
    const double deta = eta - entry.eta;
    const double dr2 = deta * deta + dphi * dphi;
    if (dr2 < best || (dr2 == best && found >= 0 && entry.index < found)) {
      best = dr2;
      found = entry.index;
    }
  };
  // a match has |deta| < radius <= bin width and |dphi| < radius: the neighbouring eta bins,
  // in each the folded phi window (wrapped around 0); the margin absorbs rounding
  const double margin = 1e-9 * (1.0 + radius_);
  const double folded = phi_mod_2pi(phi);
  const double low = folded - radius_ - margin;
  const double high = folded + radius_ + margin;
  const auto scan = [&](std::int64_t first, std::int64_t last, double from, double to) {
    auto it = std::lower_bound(entries_.begin() + first, entries_.begin() + last, from,
                               [](const Entry& e, double value) { return e.folded < value; });
    for (; it != entries_.begin() + last && it->folded <= to; ++it) {
      consider(*it);
    }
  };
  const std::int64_t centre = eta_bin(eta);
  for (std::int64_t b = std::max<std::int64_t>(centre - 1, 0);
       b <= std::min(centre + 1, n_bins_ - 1); ++b) {
    const std::int64_t first = begin_[static_cast<std::size_t>(event * n_bins_ + b)];
    const std::int64_t last = begin_[static_cast<std::size_t>(event * n_bins_ + b) + 1];
    if (first == last) {
      continue;
    }
    if (high - low >= kTwoPi) {
      scan(first, last, -1.0, kTwoPi);
      continue;
    }
    scan(first, last, low, high);
    if (low < 0.0) {
      scan(first, last, low + kTwoPi, kTwoPi);
    }
    if (high >= kTwoPi) {
      scan(first, last, -1.0, high - kTwoPi);
    }
  }
  return found;
}

namespace {

// The centres of a grid's cells as written: float32 eta per ieta, phi in [-pi, pi) per iphi.
struct CellCentres {
  std::vector<float> eta;
  std::vector<float> phi;

  explicit CellCentres(const CaloGrid& grid)
      : eta(static_cast<std::size_t>(grid.n_eta())), phi(static_cast<std::size_t>(grid.n_phi)) {
    for (std::size_t i = 0; i < eta.size(); ++i) {
      const auto ieta = static_cast<double>(grid.ieta_min + static_cast<std::int64_t>(i));
      eta[i] = static_cast<float>((ieta + 0.5) * grid.cell_eta);
    }
    const double phi_cell = kTwoPi / static_cast<double>(grid.n_phi);
    for (std::size_t i = 0; i < phi.size(); ++i) {
      phi[i] = static_cast<float>(wrap_phi((static_cast<double>(i) + 0.5) * phi_cell));
    }
  }
};

void validate_readout(const CaloReadout& part, std::int64_t n_events) {
  if (part.deposits == nullptr || part.noise == nullptr) {
    throw std::invalid_argument("calorimeter_hits: a calorimeter or its noise is missing");
  }
  const CaloDeposits& deposits = *part.deposits;
  const CaloNoise& noise = *part.noise;
  const CaloGrid& grid = deposits.grid();
  if (deposits.n_events() != n_events) {
    throw std::invalid_argument("calorimeter_hits: calorimeters of different event counts (" +
                                std::to_string(deposits.n_events()) + " and " +
                                std::to_string(n_events) + ")");
  }
  if (noise.cell_noise.size() != deposits.energy().size() ||
      noise.layer.size() != noise.cell.size() || noise.energy.size() != noise.cell.size()) {
    throw std::invalid_argument(
        "calorimeter_hits: the noise needs one value per occupied cell and layer (" +
        std::to_string(deposits.energy().size()) + ", got " +
        std::to_string(noise.cell_noise.size()) +
        ") and as many layers and energies as noise-only cells");
  }
  const std::int64_t n_cells = n_events * grid.cells_per_event();
  for (std::size_t i = 0; i < noise.cell.size(); ++i) {
    if (noise.cell[i] < 0 || noise.cell[i] >= n_cells) {
      throw std::out_of_range(at("noise cell", i) + " = " + std::to_string(noise.cell[i]) +
                              " is outside [0, " + std::to_string(n_cells) + ")");
    }
    if (noise.layer[i] < 0 || noise.layer[i] >= grid.n_layers) {
      throw std::out_of_range(at("noise layer", i) + " = " + std::to_string(noise.layer[i]) +
                              " is outside [0, " + std::to_string(grid.n_layers) + ")");
    }
  }
}

// Calls visit(event, cell index or -1, ieta, iphi, layer, energy) for every (cell, layer)
// read out, in the order of calorimeter_hits.
template <class Visit>
void for_each_readout(const CaloReadout& part, Visit&& visit) {
  const CaloDeposits& deposits = *part.deposits;
  const CaloNoise& noise = *part.noise;
  const CaloGrid& grid = deposits.grid();
  const auto n_layers = static_cast<std::size_t>(grid.n_layers);
  const std::vector<double>& energy = deposits.energy();
  for (std::int64_t event = 0; event < deposits.n_events(); ++event) {
    const auto first = static_cast<std::size_t>(deposits.event_begin()[event]);
    const auto last = static_cast<std::size_t>(deposits.event_begin()[event + 1]);
    for (std::size_t c = first; c < last; ++c) {
      for (std::size_t k = 0; k < n_layers; ++k) {
        const double measured = energy[c * n_layers + k] + noise.cell_noise[c * n_layers + k];
        if (measured > grid.threshold) {
          visit(event, static_cast<std::int64_t>(c), deposits.cell_ieta()[c],
                deposits.cell_iphi()[c], static_cast<std::int64_t>(k), measured);
        }
      }
    }
  }
  const std::int64_t per_event = grid.cells_per_event();
  for (std::size_t i = 0; i < noise.cell.size(); ++i) {
    if (noise.energy[i] > grid.threshold) {
      const std::int64_t in_event = noise.cell[i] % per_event;
      visit(noise.cell[i] / per_event, std::int64_t{-1},
            static_cast<std::int32_t>(in_event / grid.n_phi + grid.ieta_min),
            static_cast<std::int32_t>(in_event % grid.n_phi), noise.layer[i], noise.energy[i]);
    }
  }
}

}  // namespace

CaloHits calorimeter_hits(const std::vector<CaloReadout>& parts, const TrackView& tracks,
                          double truth_radius) {
  if (parts.empty() || parts.front().deposits == nullptr) {
    throw std::invalid_argument("calorimeter_hits needs at least one calorimeter");
  }
  const std::int64_t n_events = parts.front().deposits->n_events();
  for (const CaloReadout& part : parts) {
    validate_readout(part, n_events);
  }
  const NearestTrack finder(tracks, n_events, truth_radius);
  // two passes: count the hits of each event, then write them at their place
  CaloHits hits;
  hits.counts.assign(static_cast<std::size_t>(n_events), 0);
  for (const CaloReadout& part : parts) {
    for_each_readout(part, [&](std::int64_t event, std::int64_t, std::int32_t, std::int32_t,
                               std::int64_t, double) {
      ++hits.counts[static_cast<std::size_t>(event)];
    });
  }
  std::vector<std::size_t> next = event_starts(hits.counts);
  const std::size_t n = next.empty() ? 0 : next.back() + static_cast<std::size_t>(hits.counts.back());
  hits.eta.resize(n);
  hits.phi.resize(n);
  hits.energy.resize(n);
  hits.subdet.resize(n);
  hits.layer.resize(n);
  hits.ieta.resize(n);
  hits.iphi.resize(n);
  hits.truth_fraction.resize(n);
  for (const CaloReadout& part : parts) {
    const CaloDeposits& deposits = *part.deposits;
    const CaloGrid& grid = deposits.grid();
    const auto n_layers = static_cast<std::size_t>(grid.n_layers);
    const CellCentres centres(grid);
    // the closest track is searched once per cell (its layers follow each other)
    std::int64_t last_cell = -1;
    std::int64_t nearest = -1;
    for_each_readout(part, [&](std::int64_t event, std::int64_t cell, std::int32_t ieta,
                               std::int32_t iphi, std::int64_t layer, double energy) {
      const float eta = centres.eta[static_cast<std::size_t>(ieta - grid.ieta_min)];
      const float phi = centres.phi[static_cast<std::size_t>(iphi)];
      if (cell < 0 || cell != last_cell) {
        nearest = finder.find(event, eta, phi);
        last_cell = cell;
      }
      double fraction = nearest >= 0 ? 0.0 : -1.0;
      if (nearest >= 0 && cell >= 0) {
        const auto c = static_cast<std::size_t>(cell);
        const double own = deposits.track_energy(c, nearest, layer);
        if (own > 0.0) {
          fraction = std::min(own / deposits.energy()[c * n_layers + static_cast<std::size_t>(layer)],
                              1.0);
        }
      }
      const std::size_t i = next[static_cast<std::size_t>(event)]++;
      hits.eta[i] = eta;
      hits.phi[i] = phi;
      hits.energy[i] = static_cast<float>(energy);
      hits.subdet[i] = grid.subdet;
      hits.layer[i] = static_cast<std::int32_t>(layer);
      hits.ieta[i] = ieta;
      hits.iphi[i] = iphi;
      hits.truth_fraction[i] = static_cast<float>(fraction);
    });
  }
  return hits;
}

void DetectorParameters::validate() const {
  const std::array<std::pair<const char*, double>, 30> scalars{{
      {"barrel_eta_max", barrel_eta_max},
      {"magnetic_field_t", magnetic_field_t},
      {"calo_radius_m", calo_radius_m},
      {"ecal_stochastic", ecal_stochastic},
      {"ecal_constant", ecal_constant},
      {"hcal_stochastic", hcal_stochastic},
      {"hcal_constant", hcal_constant},
      {"layer_concentration", layer_concentration},
      {"hadron_ecal_fraction", hadron_ecal_fraction},
      {"hadron_ecal_concentration", hadron_ecal_concentration},
      {"ecal_em_spread", ecal_em_spread},
      {"ecal_hadron_spread", ecal_hadron_spread},
      {"hcal_spread", hcal_spread},
      {"muon_ecal", muon_ecal},
      {"muon_hcal", muon_hcal},
      {"spread_min_energy", spread_min_energy},
      {"truth_radius", truth_radius},
      {"track_pt_min", track_pt_min},
      {"track_eta_max", track_eta_max},
      {"track_efficiency", track_efficiency},
      {"track_max_vertex_radius", track_max_vertex_radius},
      {"track_pt_resolution", track_pt_resolution},
      {"track_pt_resolution_slope", track_pt_resolution_slope},
      {"track_angle_resolution", track_angle_resolution},
      {"track_d0_resolution", track_d0_resolution},
      {"track_d0_resolution_ms", track_d0_resolution_ms},
      {"track_dz_resolution", track_dz_resolution},
      {"track_dz_resolution_ms", track_dz_resolution_ms},
      {"pixel_half_length", pixel_half_length},
      {"pixel_efficiency", pixel_efficiency},
  }};
  for (const auto& [name, value] : scalars) {
    if (!(value >= 0.0) || !std::isfinite(value)) {
      throw std::invalid_argument(std::string("DetectorParameters.") + name +
                                  " must be finite and >= 0, got " + std::to_string(value));
    }
  }
  if (track_efficiency > 1.0 || pixel_efficiency > 1.0 || hadron_ecal_fraction > 1.0) {
    throw std::invalid_argument(
        "DetectorParameters: track_efficiency, pixel_efficiency and hadron_ecal_fraction are "
        "probabilities");
  }
  if (ecal_em_spread > kMaxSigma || ecal_hadron_spread > kMaxSigma || hcal_spread > kMaxSigma) {
    throw std::invalid_argument("DetectorParameters: lateral spreads are at most 100 cells");
  }
  ecal.validate();
  hcal.validate();
  const auto check_profile = [](const std::vector<double>& profile, const CaloGrid& grid,
                                const char* name) {
    if (profile.size() != static_cast<std::size_t>(grid.n_layers)) {
      throw std::invalid_argument(std::string("DetectorParameters.") + name + " has " +
                                  std::to_string(profile.size()) + " layers, its grid " +
                                  std::to_string(grid.n_layers));
    }
    for (const double f : profile) {
      if (!(f > 0.0) || !std::isfinite(f)) {
        throw std::invalid_argument(std::string("DetectorParameters.") + name +
                                    " must hold finite values > 0");
      }
    }
  };
  check_profile(ecal_em_layers, ecal, "ecal_em_layers");
  check_profile(ecal_hadron_layers, ecal, "ecal_hadron_layers");
  check_profile(hcal_layers, hcal, "hcal_layers");
  check_profile(ecal_layer_radii, ecal, "ecal_layer_radii");
  check_profile(hcal_layer_radii, hcal, "hcal_layer_radii");
  for (std::size_t l = 1; l < ecal_layer_radii.size() + hcal_layer_radii.size(); ++l) {
    const auto radius = [&](std::size_t k) {
      return k < ecal_layer_radii.size() ? ecal_layer_radii[k]
                                         : hcal_layer_radii[k - ecal_layer_radii.size()];
    };
    if (!(radius(l) > radius(l - 1))) {
      throw std::invalid_argument(
          "DetectorParameters: ecal_layer_radii then hcal_layer_radii must increase");
    }
  }
  if (pixel_radii.empty()) {
    throw std::invalid_argument("DetectorParameters.pixel_radii needs at least one layer");
  }
  for (std::size_t l = 0; l < pixel_radii.size(); ++l) {
    if (!(pixel_radii[l] > 0.0) || !std::isfinite(pixel_radii[l])) {
      throw std::invalid_argument(at("DetectorParameters.pixel_radii", l) +
                                  " must be finite and > 0");
    }
  }
}

namespace {

void validate_particles(const Particles& p, std::int64_t n_events) {
  if (n_events < 0) {
    throw std::invalid_argument("n_events must be >= 0, got " + std::to_string(n_events));
  }
  const std::array<std::pair<const char*, const double*>, 11> columns{{{"px", p.px},
                                                                       {"py", p.py},
                                                                       {"pz", p.pz},
                                                                       {"e", p.e},
                                                                       {"charge", p.charge},
                                                                       {"vx", p.vx},
                                                                       {"vy", p.vy},
                                                                       {"vz", p.vz},
                                                                       {"pt", p.pt},
                                                                       {"eta", p.eta},
                                                                       {"phi", p.phi}}};
  if (p.size > 0 && (p.event == nullptr || p.pdg == nullptr ||
                     std::any_of(columns.begin(), columns.end(),
                                 [](const auto& column) { return column.second == nullptr; }))) {
    throw std::invalid_argument(
        "particles: every column must be given (event, px, py, pz, e, pdg, charge, vx, vy, vz, "
        "pt, eta, phi)");
  }
  for (std::size_t i = 0; i < p.size; ++i) {
    require_event(p.event[i], n_events, "event", i);
    for (const auto& [name, column] : columns) {
      require_finite(column[i], name, i);
    }
  }
}

double sign(double x) { return x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : 0.0); }

// Groups rows by event, keeping their order within an event (a stable counting sort): the
// new position of each row, and the counts per event.
std::vector<std::size_t> group_by_event(const std::vector<std::int64_t>& event,
                                        std::int64_t n_events, std::vector<std::int64_t>& counts) {
  counts.assign(static_cast<std::size_t>(n_events), 0);
  for (const std::int64_t e : event) {
    ++counts[static_cast<std::size_t>(e)];
  }
  std::vector<std::size_t> next = event_starts(counts);
  std::vector<std::size_t> position(event.size());
  for (std::size_t i = 0; i < event.size(); ++i) {
    position[i] = next[static_cast<std::size_t>(event[i])]++;
  }
  return position;
}

// Charged particles in the tracker acceptance, each reconstructed with the track efficiency
// (one uniform per particle), smeared in pT, eta, phi, d0 and dz.
Tracks make_tracks(const Particles& p, std::int64_t n_events, const DetectorParameters& d,
                   RandomSource& rng) {
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < p.size; ++i) {
    const bool candidate = p.charge[i] != 0.0 && p.pt[i] > d.track_pt_min &&
                           std::fabs(p.eta[i]) < d.track_eta_max &&
                           std::hypot(p.vx[i], p.vy[i]) < d.track_max_vertex_radius;
    if (rng.random() < d.track_efficiency && candidate) {
      index.push_back(i);
    }
  }
  const std::size_t n = index.size();
  // the draws come in blocks, as NumPy drew them: phi, pT, eta, d0, dz
  std::vector<double> draws(5 * n);
  for (std::size_t j = 0; j < n; ++j) {
    draws[j] = rng.normal(0.0, d.track_angle_resolution);
  }
  for (std::size_t j = n; j < 2 * n; ++j) {
    draws[j] = rng.standard_normal();
  }
  for (std::size_t j = 2 * n; j < 3 * n; ++j) {
    draws[j] = rng.normal(0.0, d.track_angle_resolution);
  }
  for (std::size_t j = 3 * n; j < 5 * n; ++j) {
    draws[j] = rng.standard_normal();
  }
  std::vector<std::int64_t> event(n);
  for (std::size_t j = 0; j < n; ++j) {
    event[j] = p.event[index[j]];
  }
  Tracks t;
  const std::vector<std::size_t> position = group_by_event(event, n_events, t.counts);
  t.pt.resize(n);
  t.eta.resize(n);
  t.phi.resize(n);
  t.d0.resize(n);
  t.dz.resize(n);
  t.charge.resize(n);
  t.particle.resize(n);
  for (std::size_t j = 0; j < n; ++j) {
    const std::size_t i = index[j];
    const double pt = p.pt[i];
    const double px = p.px[i];
    const double py = p.py[i];
    const double pz = p.pz[i];
    const double vx = p.vx[i];
    const double vy = p.vy[i];
    // impact parameters of the straight line through the production vertex
    const double d0 = (-vx * py + vy * px) / pt;
    const double dz = p.vz[i] - (vx * px + vy * py) / pt * pz / pt;
    const double sigma_pt = std::hypot(d.track_pt_resolution, d.track_pt_resolution_slope * pt);
    const double sigma_d0 = std::hypot(d.track_d0_resolution, d.track_d0_resolution_ms / pt);
    const double sigma_dz = std::hypot(d.track_dz_resolution, d.track_dz_resolution_ms / pt);
    const std::size_t k = position[j];
    t.pt[k] = static_cast<float>(pt * (1.0 + sigma_pt * draws[n + j]));
    t.eta[k] = static_cast<float>(p.eta[i] + draws[2 * n + j]);
    t.phi[k] = static_cast<float>(wrap_phi(p.phi[i] + draws[j]));
    t.d0[k] = static_cast<float>(d0 + sigma_d0 * draws[3 * n + j]);
    t.dz[k] = static_cast<float>(dz + sigma_dz * draws[4 * n + j]);
    t.charge[k] = static_cast<std::int32_t>(sign(p.charge[i]));
    t.particle[k] = static_cast<std::int64_t>(i);
  }
  return t;
}

// Energy smeared with sigma/E = a / sqrt(E) (+) c: Gamma-distributed with that mean and
// variance, for the positive entries (all drawn if any has a non-zero resolution).
void smear(std::vector<double>& energy, double a, double c, RandomSource& rng) {
  bool draw = false;
  for (const double e : energy) {
    draw = draw || (e > 0.0 && a * a / e + c * c > 0.0);
  }
  for (double& e : energy) {
    if (e > 0.0 && draw) {
      const double rel2 = a * a / e + c * c;
      e = rng.gamma(1.0 / rel2, e * rel2);
    } else if (!(e > 0.0)) {
      e = 0.0;
    }
  }
}

// [n, layers] depth fractions: the mean profile, Dirichlet-fluctuating (concentration k) for
// the rows where `fluctuate` is set.
std::vector<double> depth_profiles(const std::vector<double>& mean,
                                   const std::vector<bool>& fluctuate, double k,
                                   RandomSource& rng) {
  const std::size_t n_layers = mean.size();
  std::vector<double> out(fluctuate.size() * n_layers);
  std::vector<double> alpha(n_layers);
  for (std::size_t l = 0; l < n_layers; ++l) {
    alpha[l] = mean[l] * k;
  }
  for (std::size_t i = 0; i < fluctuate.size(); ++i) {
    if (fluctuate[i] && k > 0.0) {
      dirichlet(rng, alpha, out.data() + i * n_layers);
    } else {
      std::copy(mean.begin(), mean.end(), out.begin() + static_cast<std::ptrdiff_t>(i * n_layers));
    }
  }
  return out;
}

// Where the straight line of particle i from its production vertex crosses the cylinder of
// radius r (cm), as eta and phi seen from the origin (the frame of the cells); false when the
// vertex lies at or beyond r.
bool cross_cylinder(double vx, double vy, double vz, double direction, double pz, double pt,
                    double r, double& eta, double& phi) {
  const double r_vertex2 = vx * vx + vy * vy;
  if (!(r_vertex2 < r * r)) {
    return false;
  }
  const double cos0 = std::cos(direction);
  const double sin0 = std::sin(direction);
  const double along = vx * cos0 + vy * sin0;
  const double s = -along + std::sqrt(std::max(along * along - r_vertex2 + r * r, 0.0));
  const double z = vz + s * pz / std::max(pt, 1e-12);
  eta = std::asinh(z / r);
  phi = std::atan2(vy + s * sin0, vx + s * cos0);
  return true;
}

bool cross_cylinder(const Particles& p, std::size_t i, double r, double& eta, double& phi) {
  return cross_cylinder(p.vx[i], p.vy[i], p.vz[i], p.phi[i], p.pz[i], p.pt[i], r, eta, phi);
}

bool at_origin(const Particles& p, std::size_t i) {
  return p.vx[i] == 0.0 && p.vy[i] == 0.0 && p.vz[i] == 0.0;
}

// The ECAL and HCAL showers of the particles reaching the barrel (charged ones bent in phi),
// with their Beta-distributed ECAL share (hadrons), smearing and depth profiles. A particle
// made at the origin gives one shower per sub-detector at its own eta and phi; one made
// elsewhere gives one shower per depth layer its line reaches, where it crosses that layer's
// radius, holding that layer's share only (layers behind its vertex get nothing); electrons
// and photons made beyond the last ECAL layer shower in the HCAL, as hadrons do there.
void make_showers(const Particles& p, const Tracks& tracks, const DetectorParameters& d,
                  RandomSource& rng, ShowerColumns& ecal, ShowerColumns& hcal) {
  std::vector<std::int64_t> track_of(p.size, -1);
  for (std::size_t t = 0; t < tracks.particle.size(); ++t) {
    track_of[static_cast<std::size_t>(tracks.particle[t])] = static_cast<std::int64_t>(t);
  }
  std::vector<double> radii(d.ecal_layer_radii);
  radii.insert(radii.end(), d.hcal_layer_radii.begin(), d.hcal_layer_radii.end());
  std::vector<std::size_t> index;
  std::vector<double> bends;
  for (std::size_t i = 0; i < p.size; ++i) {
    const double bend = phi_bend(p.charge[i], p.pt[i], d.magnetic_field_t, d.calo_radius_m);
    if (std::isnan(bend)) {
      continue;
    }
    // the acceptance is that of the first layer reached
    double eta_front = p.eta[i];
    if (!at_origin(p, i)) {
      double phi_front = 0.0;
      std::size_t k = 0;
      while (k < radii.size() && !cross_cylinder(p, i, radii[k], eta_front, phi_front)) {
        ++k;
      }
      if (k == radii.size()) {
        continue;
      }
    }
    if (std::fabs(eta_front) < d.barrel_eta_max) {
      index.push_back(i);
      bends.push_back(bend);
    }
  }
  const std::size_t n = index.size();
  const double last_ecal = d.ecal_layer_radii.back();
  std::vector<bool> em(n);
  std::vector<bool> muon(n);
  std::vector<double> e_ecal(n);
  std::vector<double> e_hcal(n);
  const double m = d.hadron_ecal_fraction;
  const double k = d.hadron_ecal_concentration;
  const bool beta = 0.0 < m && m < 1.0;
  for (std::size_t j = 0; j < n; ++j) {
    const std::int32_t pdg = std::abs(p.pdg[index[j]]);
    em[j] = pdg == 11 || pdg == 22;
    muon[j] = pdg == 13;
    // an electron or photon made beyond the last ECAL layer showers in the HCAL
    const double vx = p.vx[index[j]];
    const double vy = p.vy[index[j]];
    const bool em_in_ecal = em[j] && vx * vx + vy * vy < last_ecal * last_ecal;
    double f_ecal = em_in_ecal ? 1.0 : 0.0;
    if (!em[j] && !muon[j]) {
      if (beta && !(k * m > 0.0 && k * (1.0 - m) > 0.0)) {
        throw std::invalid_argument(
            "DetectorParameters: hadron_ecal_concentration must be > 0 for a hadron ECAL "
            "fraction strictly between 0 and 1");
      }
      f_ecal = beta ? rng.beta(k * m, k * (1.0 - m)) : m;
    }
    const double energy = p.e[index[j]];
    e_ecal[j] = energy * f_ecal;
    e_hcal[j] = energy - e_ecal[j];
    if (muon[j]) {
      e_ecal[j] = std::min(energy, d.muon_ecal);
      e_hcal[j] = std::min(energy - e_ecal[j], d.muon_hcal);
    }
  }
  smear(e_ecal, d.ecal_stochastic, d.ecal_constant, rng);
  smear(e_hcal, d.hcal_stochastic, d.hcal_constant, rng);
  // depth profiles fluctuate for showers above spread_min_energy; softer ones take the mean
  // profile (their fluctuations are far below the noise)
  const double soft = d.spread_min_energy;
  std::vector<bool> fluctuate(n);
  for (std::size_t j = 0; j < n; ++j) {
    fluctuate[j] = em[j] && e_ecal[j] >= soft;
  }
  const std::vector<double> em_layers =
      depth_profiles(d.ecal_em_layers, fluctuate, d.layer_concentration, rng);
  for (std::size_t j = 0; j < n; ++j) {
    fluctuate[j] = !em[j] && e_ecal[j] >= soft;
  }
  const std::vector<double> hadron_layers =
      depth_profiles(d.ecal_hadron_layers, fluctuate, d.layer_concentration, rng);
  for (std::size_t j = 0; j < n; ++j) {
    fluctuate[j] = e_hcal[j] >= soft;
  }
  const std::vector<double> hcal_layers =
      depth_profiles(d.hcal_layers, fluctuate, d.layer_concentration, rng);

  const auto push = [&](ShowerColumns& out, std::size_t i, double energy, double eta,
                        double phi, double sigma) {
    out.event.push_back(p.event[i]);
    out.energy.push_back(energy);
    out.eta.push_back(eta);
    out.phi.push_back(phi);
    out.sigma.push_back(sigma);
    out.track.push_back(track_of[i]);
  };
  const auto add = [&](ShowerColumns& out, std::size_t j, double energy, const double* layers,
                       const std::vector<double>& layer_radii, double sigma) {
    const std::size_t i = index[j];
    const std::size_t n_layers = layer_radii.size();
    if (at_origin(p, i)) {
      push(out, i, energy, p.eta[i], p.phi[i] - bends[j], sigma);
      out.layers.insert(out.layers.end(), layers, layers + n_layers);
      return;
    }
    for (std::size_t k = 0; k < n_layers; ++k) {
      double eta = 0.0;
      double phi = 0.0;
      if (cross_cylinder(p, i, layer_radii[k], eta, phi)) {
        push(out, i, energy, eta, phi - bends[j], sigma);
        const std::size_t first = out.layers.size();
        out.layers.resize(first + n_layers, 0.0);
        out.layers[first + k] = layers[k];
      }
    }
  };
  const std::size_t ecal_layers = d.ecal_em_layers.size();
  const std::size_t hcal_n_layers = d.hcal_layers.size();
  for (std::size_t j = 0; j < n; ++j) {
    if (e_ecal[j] > 0.0) {
      const double* layers = (em[j] ? em_layers : hadron_layers).data() + j * ecal_layers;
      const double sigma =
          e_ecal[j] < soft ? 0.0 : (em[j] ? d.ecal_em_spread : d.ecal_hadron_spread);
      add(ecal, j, e_ecal[j], layers, d.ecal_layer_radii, sigma);
    }
  }
  for (std::size_t j = 0; j < n; ++j) {
    if (e_hcal[j] > 0.0) {
      add(hcal, j, e_hcal[j], hcal_layers.data() + j * hcal_n_layers, d.hcal_layer_radii,
          e_hcal[j] < soft ? 0.0 : d.hcal_spread);
    }
  }
}

// Where charged particles cross the barrel pixel layers (straight line + bending), one uniform
// per candidate and layer deciding the layer efficiency.
PixelHits make_pixel_hits(const Particles& p, std::int64_t n_events, const DetectorParameters& d,
                          RandomSource& rng) {
  const std::vector<double>& radii = d.pixel_radii;
  const double inner = *std::min_element(radii.begin(), radii.end());
  const double outer = *std::max_element(radii.begin(), radii.end());
  const double half = d.pixel_half_length;
  std::vector<std::int64_t> event;
  std::vector<float> eta;
  std::vector<float> phi_out;
  std::vector<std::int32_t> layer;
  for (std::size_t i = 0; i < p.size; ++i) {
    if (p.charge[i] == 0.0) {
      continue;
    }
    // skip particles from the beam line whose straight line stays beyond the layers' length
    // from the innermost to the outermost radius (z is linear in r there); displaced
    // particles are always tried
    const double slope = p.pz[i] / std::max(p.pt[i], 1e-12);
    const double z_inner = p.vz[i] + slope * inner;
    const double z_outer = p.vz[i] + slope * outer;
    const bool misses =
        (z_inner > half && z_outer > half) || (z_inner < -half && z_outer < -half);
    if (p.vx[i] == 0.0 && p.vy[i] == 0.0 && misses) {
      continue;
    }
    const double pt = p.pt[i];
    const double vx = p.vx[i];
    const double vy = p.vy[i];
    const double r_vertex2 = vx * vx + vy * vy;
    const bool displaced = r_vertex2 > 0.0;
    const double cos0 = displaced ? std::cos(p.phi[i]) : 1.0;
    const double sin0 = displaced ? std::sin(p.phi[i]) : 0.0;
    for (std::size_t l = 0; l < radii.size(); ++l) {
      // a hit needs a vertex inside the layer, a helix diameter 2 pT / (0.3 B) above the
      // radius and the layer efficient
      const double radius = radii[l];
      const double bend = kLooperConstant * d.magnetic_field_t * radius / 100.0 / (2.0 * pt);
      const double uniform = rng.random();
      if (!(r_vertex2 < radius * radius) || !(bend < 1.0) || !(uniform < d.pixel_efficiency)) {
        continue;
      }
      // transverse path length from the vertex to the layer: r on the beam line, the
      // positive root of |v + s (cos, sin)| = r for displaced vertices
      double s = radius;
      double phi = p.phi[i];
      if (displaced) {
        const double along = vx * cos0 + vy * sin0;
        s = -along + std::sqrt(std::max(along * along - vx * vx - vy * vy + radius * radius, 0.0));
        phi = std::atan2(vy + s * sin0, vx + s * cos0);
      }
      const double z = p.vz[i] + s * p.pz[i] / std::max(pt, 1e-12);
      phi -= sign(p.charge[i]) * std::asin(bend);
      if (!(std::fabs(z) < half)) {
        continue;
      }
      event.push_back(p.event[i]);
      eta.push_back(static_cast<float>(std::asinh(z / radius)));
      phi_out.push_back(static_cast<float>(wrap_phi(phi)));
      layer.push_back(static_cast<std::int32_t>(l));
    }
  }
  PixelHits hits;
  const std::vector<std::size_t> position = group_by_event(event, n_events, hits.counts);
  hits.eta.resize(event.size());
  hits.phi.resize(event.size());
  hits.layer.resize(event.size());
  for (std::size_t h = 0; h < event.size(); ++h) {
    hits.eta[position[h]] = eta[h];
    hits.phi[position[h]] = phi_out[h];
    hits.layer[position[h]] = layer[h];
  }
  return hits;
}

}  // namespace

double phi_bend(double charge, double pt, double field_t, double radius_m) {
  const double bend = kLooperConstant * field_t * radius_m / (2.0 * pt);
  if (!(charge == 0.0 || bend < 1.0)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return sign(charge) * std::asin(std::min(bend, 1.0));
}

bool calorimeter_impact(double pt, double eta, double phi, double charge, double d0, double dz,
                        double field_t, double radius_m, double& impact_eta, double& impact_phi) {
  const std::array<std::pair<const char*, double>, 8> arguments{{{"pt", pt},
                                                                 {"eta", eta},
                                                                 {"phi", phi},
                                                                 {"charge", charge},
                                                                 {"d0", d0},
                                                                 {"dz", dz},
                                                                 {"field_t", field_t},
                                                                 {"radius_m", radius_m}}};
  for (const auto& [name, value] : arguments) {
    if (!std::isfinite(value)) {
      throw std::invalid_argument(std::string("calorimeter_impact: ") + name +
                                  " must be finite, got " + std::to_string(value));
    }
  }
  if (!(pt > 0.0)) {
    return false;
  }
  const double bend = phi_bend(charge, pt, field_t, radius_m);
  double crossing_eta = 0.0;
  double crossing_phi = 0.0;
  // pz / pT of the track's direction is sinh(eta)
  if (std::isnan(bend) || !cross_cylinder(-d0 * std::sin(phi), d0 * std::cos(phi), dz, phi,
                                          std::sinh(eta), 1.0, 100.0 * radius_m, crossing_eta,
                                          crossing_phi)) {
    return false;
  }
  impact_eta = crossing_eta;
  impact_phi = wrap_phi(crossing_phi - bend);
  return true;
}

Response simulate(const Particles& particles, std::int64_t n_events,
                  const DetectorParameters& parameters, RandomSource& rng) {
  parameters.validate();
  validate_particles(particles, n_events);
  Response response;
  response.tracks = make_tracks(particles, n_events, parameters, rng);
  const Tracks& tracks = response.tracks;
  ShowerColumns ecal_showers;
  ShowerColumns hcal_showers;
  make_showers(particles, tracks, parameters, rng, ecal_showers, hcal_showers);
  const auto n_tracks = static_cast<std::int64_t>(tracks.particle.size());
  const CaloDeposits ecal(parameters.ecal, ecal_showers.view(), n_events, n_tracks);
  const CaloDeposits hcal(parameters.hcal, hcal_showers.view(), n_events, n_tracks);
  const CaloNoise ecal_noise = draw_noise(ecal, rng);
  const CaloNoise hcal_noise = draw_noise(hcal, rng);
  // the truth fraction refers to the closest track where it reaches the calorimeter, as
  // written (float) track parameters give it
  std::vector<std::int64_t> track_event;
  std::vector<std::int64_t> track_index;
  std::vector<float> impact_eta;
  std::vector<float> impact_phi;
  std::size_t t = 0;
  for (std::size_t e = 0; e < tracks.counts.size(); ++e) {
    for (std::int64_t k = 0; k < tracks.counts[e]; ++k, ++t) {
      double eta = 0.0;
      double phi = 0.0;
      if (calorimeter_impact(tracks.pt[t], tracks.eta[t], tracks.phi[t], tracks.charge[t],
                             tracks.d0[t], tracks.dz[t], parameters.magnetic_field_t,
                             parameters.calo_radius_m, eta, phi)) {
        track_event.push_back(static_cast<std::int64_t>(e));
        track_index.push_back(static_cast<std::int64_t>(t));
        impact_eta.push_back(static_cast<float>(eta));
        impact_phi.push_back(static_cast<float>(phi));
      }
    }
  }
  TrackView view;
  view.size = track_event.size();
  view.event = track_event.data();
  view.eta = impact_eta.data();
  view.phi = impact_phi.data();
  view.index = track_index.data();
  response.hits =
      calorimeter_hits({{&ecal, &ecal_noise}, {&hcal, &hcal_noise}}, view, parameters.truth_radius);
  response.pixel_hits = make_pixel_hits(particles, n_events, parameters, rng);
  return response;
}

}  // namespace e2e_gnn::detector
