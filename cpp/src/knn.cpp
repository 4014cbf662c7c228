#include "e2e_gnn/knn.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif
#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace e2e_gnn {
namespace {

// Graphs up to this size are scanned whole; larger ones through a uniform grid over their
// first two coordinates (tuned with benchmarks/bench_knn.py: k = 16, 2-D, 50-1000 nodes).
constexpr std::size_t kBruteForceMaxNodes = 80;
// Grids are used for up to this many coordinates; beyond, the 2-D projection prunes too little.
constexpr std::size_t kGridMaxDims = 3;
// Average number of nodes per grid cell.
constexpr double kNodesPerCell = 2.0;
// The search radius of a query starts at the previous query's k-th distance times this factor
// (on squared distances), and is doubled until it holds enough neighbours.
constexpr double kRadiusSlack = 1.3;

// Runs of at least this many candidate slots get their distances computed in a separate,
// vectorised loop (shorter ones do not pay for it).
constexpr std::size_t kLongRun = 24;

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// One grid axis. Coordinates are binned as lo + c * width <= v < lo + (c + 1) * width.
// A periodic axis covers [0, period) and its cells wrap around.
struct Axis {
  bool periodic = false;
  double lo = 0.0;
  double width = 1.0;
  int cells = 1;

  int cell(double v) const {
    const double c = std::floor((v - lo) / width);
    if (!(c >= 0.0)) {
      return 0;
    }
    return c >= cells - 1 ? cells - 1 : static_cast<int>(c);
  }

  int wrap(int c) const {
    if (!periodic) {
      return c;
    }
    c %= cells;
    return c < 0 ? c + cells : c;
  }

  // Cells [first, last] (to be wrapped) that hold every coordinate within r of v.
  // Returns true when they are all the cells of the axis.
  bool cover(double v, double r, int& first, int& last) const {
    const double f = std::floor((v - r - lo) / width);
    const double l = std::floor((v + r - lo) / width);
    if (!(l - f + 1.0 < cells) || (!periodic && f <= 0.0 && l >= cells - 1)) {
      first = 0;
      last = cells - 1;
      return true;
    }
    first = static_cast<int>(periodic ? f : std::max(f, 0.0));
    last = static_cast<int>(periodic ? l : std::min(l, cells - 1.0));
    return false;
  }
};

// Where the periodic coordinate of a graph goes on its grid axis.
enum class Fold { kNone, kZeroToPeriod, kCentered };

inline double fold(double x, Fold how, double period) {
  if (how == Fold::kNone) {
    return x;
  }
  double v = x - period * std::floor(x / period);  // [0, period]
  if (how == Fold::kCentered && v >= 0.5 * period) {
    v -= period;
  }
  return v;
}

// Squared distance between two points whose coordinates were promoted to double: the
// coordinates are taken in order, the periodic one (index periodic_dim) folded.
template <int Dim, bool Periodic>
struct Metric {
  std::size_t dim;
  int periodic_dim;
  double period;

  double operator()(const double* a, const double* b) const {
    const std::size_t num = Dim > 0 ? static_cast<std::size_t>(Dim) : dim;
    double acc = 0.0;
    for (std::size_t d = 0; d < num; ++d) {
      double diff = std::fabs(a[d] - b[d]);
      if (Periodic && static_cast<int>(d) == periodic_dim) {
        diff = std::fmod(diff, period);
        diff = diff < period - diff ? diff : period - diff;
      }
      acc += diff * diff;
    }
    return acc;
  }
};

// Exact kNN queries inside one graph. Nodes are binned on a uniform grid over their first two
// coordinates (one cell for small graphs). A query scans the cells within a radius guessed from
// the previous query, keeps the candidates inside it and grows it until it holds m of them:
// then every node closer than the m-th candidate was scanned, and the m closest are exact.
class GraphSearch {
 public:
  GraphSearch(std::size_t dim, const Periodicity& periodic) : dim_(dim), periodic_(periodic) {}

  // Indexes the n nodes of a graph at `pos`. The buffers are kept from graph to graph: with
  // many small graphs per call, allocating them for each graph would cost a lot.
  void assign(const float* pos, std::size_t n) {
    n_ = n;
    dist_.resize(n);
    index_.resize(2 * n);
    scratch_.resize(n);
    build(pos);
  }

  // Writes the local indices of the m closest nodes to local node i (i excluded) into `out`
  // and returns the m-th smallest squared distance.
  double query(std::size_t i, std::size_t m, double radius2, std::int32_t* out) {
    const bool periodic = periodic_.dim >= 0;
    switch (periodic ? -static_cast<int>(dim_) : static_cast<int>(dim_)) {
      case 2:
        return search<2, false>(i, m, radius2, out);
      case -2:
        return search<2, true>(i, m, radius2, out);
      case 3:
        return search<3, false>(i, m, radius2, out);
      case -3:
        return search<3, true>(i, m, radius2, out);
      default:
        return periodic ? search<0, true>(i, m, radius2, out)
                        : search<0, false>(i, m, radius2, out);
    }
  }

  // True when the graph is one grid cell: its nodes are then scanned in index order, and the
  // sources that select() writes are sorted already.
  bool single_cell() const { return axes_[0].cells == 1 && axes_[1].cells == 1; }

  // Local node in grid order: consecutive queries are neighbours, so radius guesses carry over.
  std::size_t node_in_slot(std::size_t s) const { return static_cast<std::size_t>(order_[s]); }

  // A first guess of the squared k-th neighbour distance from the node density.
  double initial_radius2(std::size_t m) const {
    return area_ * static_cast<double>(m) / (3.0 * static_cast<double>(n_));
  }

 private:
  void build(const float* pos) {
    const std::size_t num_axes = std::min<std::size_t>(dim_, 2);
    std::vector<double>* coord = coord_;
    double extent[2] = {0.0, 0.0};
    double scale = 1.0;
    const bool use_grid = n_ > kBruteForceMaxNodes && dim_ <= kGridMaxDims;
    axes_[0] = Axis{};
    axes_[1] = Axis{};
    area_ = 0.0;
    for (std::size_t a = 0; a < num_axes; ++a) {
      Axis& axis = axes_[a];
      std::vector<double>& v = coord[a];
      Fold how = Fold::kNone;
      if (static_cast<int>(a) == periodic_.dim) {
        // A graph spread over at most half a period (a jet in phi) is binned on an ordinary
        // axis, on which plain differences equal the periodic ones; otherwise the axis wraps.
        const double half = 0.5 * periodic_.period;
        how = Fold::kZeroToPeriod;
        if (fill_axis(pos, a, how, v) > half) {
          how = Fold::kCentered;
          if (fill_axis(pos, a, how, v) > half) {
            how = Fold::kZeroToPeriod;
            axis.periodic = true;
          }
        }
      }
      fill_axis(pos, a, how, v);
      const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
      axis.lo = axis.periodic ? 0.0 : *mn;
      extent[a] = axis.periodic ? periodic_.period : *mx - *mn;
      scale = std::max({scale, std::fabs(*mn), std::fabs(*mx), extent[a]});
    }
    const double nodes = static_cast<double>(n_);
    double width = 1.0;
    if (extent[0] > 0.0 && extent[1] > 0.0) {
      area_ = extent[0] * extent[1];
      width = std::sqrt(area_ * kNodesPerCell / nodes);
    } else if (extent[0] > 0.0 || extent[1] > 0.0) {
      const double length = std::max(extent[0], extent[1]);
      area_ = length * length;
      width = length * kNodesPerCell / nodes;
    }
    for (std::size_t a = 0; a < 2; ++a) {
      Axis& axis = axes_[a];
      if (use_grid && extent[a] > 0.0) {
        const double cells = std::min(std::floor(extent[a] / width), nodes);
        axis.cells = std::max(1, static_cast<int>(cells) + (axis.periodic ? 0 : 1));
        axis.width = axis.periodic ? extent[a] / axis.cells : width;
      } else {
        axis.periodic = false;
        coord[a].assign(n_, 0.0);
      }
    }
    // Rounding in the folding and binning moves a node at most a few ulps out of its cell.
    margin_ = 1e-9 * scale;

    const int nx = axes_[0].cells;
    const int num_cells = nx * axes_[1].cells;
    std::vector<int>& cell_of = cell_of_;
    cell_of.resize(n_);
    start_.assign(static_cast<std::size_t>(num_cells) + 1, 0);
    for (std::size_t i = 0; i < n_; ++i) {
      cell_of[i] = axes_[1].cell(coord[1][i]) * nx + axes_[0].cell(coord[0][i]);
      ++start_[static_cast<std::size_t>(cell_of[i]) + 1];
    }
    for (int c = 0; c < num_cells; ++c) {
      start_[c + 1] += start_[c];
    }
    std::vector<std::size_t>& fill = fill_;
    fill.assign(start_.begin(), start_.end() - 1);
    order_.resize(n_);
    slot_.resize(n_);
    sorted_pos_.resize(n_ * dim_);
    grid_pos_.resize(2 * n_);
    for (std::size_t i = 0; i < n_; ++i) {
      const std::size_t s = fill[cell_of[i]]++;
      order_[s] = static_cast<std::int32_t>(i);
      slot_[i] = s;
      std::copy(pos + i * dim_, pos + (i + 1) * dim_, sorted_pos_.begin() + s * dim_);
      grid_pos_[2 * i] = coord[0][i];
      grid_pos_[2 * i + 1] = coord[1][i];
    }
  }

  // Stores the folded coordinate a of every node into v; returns its range.
  double fill_axis(const float* pos, std::size_t a, Fold how, std::vector<double>& v) const {
    v.resize(n_);
    for (std::size_t i = 0; i < n_; ++i) {
      v[i] = fold(pos[i * dim_ + a], how, periodic_.period);
    }
    const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
    return *mx - *mn;
  }

  // Appends the nodes within sqrt(radius2) of node i, scanning the cells that may hold them;
  // sets `everywhere` when those were all the cells.
  template <int Dim, bool Periodic>
  std::size_t gather(std::size_t i, double radius2, bool& everywhere) {
    const Metric<Dim, Periodic> metric{dim_, periodic_.dim, periodic_.period};
    const std::size_t self = slot_[i];
    const double* q = sorted_pos_.data() + self * dim_;
    const double r = std::sqrt(radius2) + margin_;
    int x0, x1, y0, y1;
    const bool all_x = axes_[0].cover(grid_pos_[2 * i], r, x0, x1);
    const bool all_y = axes_[1].cover(grid_pos_[2 * i + 1], r, y0, y1);
    everywhere = all_x && all_y;
    const double limit = radius2;
    double* dist = dist_.data();
    std::int32_t* index = index_.data();
    std::size_t count = 0;
    // Cells are numbered row by row and their nodes stored cell by cell, so the cells x0..x1
    // of a row hold one contiguous run of slots (two when a periodic x range wraps around):
    // one loop per run rather than per cell, whose ~2 nodes would mispredict every exit.
    const int nx = axes_[0].cells;
    int runs[2][2] = {{x0, x1}, {0, -1}};
    if (axes_[0].periodic) {
      const int first = axes_[0].wrap(x0);
      const int last = first + (x1 - x0);
      runs[0][0] = first;
      runs[0][1] = std::min(last, nx - 1);
      runs[1][1] = last - nx;  // empty unless the range wraps
    }
    for (int cy = y0; cy <= y1; ++cy) {
      const std::size_t row = static_cast<std::size_t>(axes_[1].wrap(cy)) * nx;
      for (const auto& run : runs) {
        if (run[1] < run[0]) {
          continue;
        }
        const std::size_t begin = start_[row + static_cast<std::size_t>(run[0])];
        const std::size_t end = start_[row + static_cast<std::size_t>(run[1]) + 1];
        const std::size_t stride = Dim > 0 ? static_cast<std::size_t>(Dim) : dim_;
        const double* p = sorted_pos_.data() + begin * stride;
        if (end - begin < kLongRun) {
          for (std::size_t s = begin; s < end; ++s, p += stride) {
            const double d = metric(q, p);
            dist[count] = d;
            index[count] = order_[s];
            count += static_cast<std::size_t>((d <= limit) & (s != self));
          }
          continue;
        }
        // A long run (a small graph scanned whole): distances first, in a loop that
        // vectorises, then the branch-free compaction.
        double* run_dist = scratch_.data();
        for (std::size_t s = 0; s < end - begin; ++s) {
          run_dist[s] = metric(q, p + s * stride);
        }
        for (std::size_t s = begin; s < end; ++s) {
          const double d = run_dist[s - begin];
          dist[count] = d;
          index[count] = order_[s];
          count += static_cast<std::size_t>((d <= limit) & (s != self));
        }
      }
    }
    return count;
  }

  template <int Dim, bool Periodic>
  double search(std::size_t i, std::size_t m, double radius2, std::int32_t* out) {
    bool everywhere = false;
    std::size_t count = gather<Dim, Periodic>(i, radius2, everywhere);
    while (count < m) {
      if (everywhere) {
        radius2 = kInfinity;
      } else {
        radius2 = radius2 > 0.0 ? 2.0 * radius2 : axes_[0].width * axes_[0].width + margin_;
      }
      count = gather<Dim, Periodic>(i, radius2, everywhere);
    }
    return select(count, m, out);
  }

  // Writes the local indices of the m closest of `count` >= m candidates to `out` (room for
  // `count`), in candidate order, and returns the m-th smallest distance.
  double select(std::size_t count, std::size_t m, std::int32_t* out) {
    const double* dist = dist_.data();
    const std::int32_t* index = index_.data();
    const double kth = kth_smallest(dist, count, m);
    std::size_t kept = 0;
    for (std::size_t c = 0; c < count; ++c) {
      out[kept] = index[c];
      kept += static_cast<std::size_t>(dist[c] <= kth);
    }
    if (kept == m) {
      return kth;  // the usual case: no more candidates at the m-th distance than needed
    }
    // Candidates at exactly the m-th distance are kept up to index `last_tied`, so that the
    // smallest indices win the tie.
    std::int32_t last_tied = 0;
    {
      std::size_t closer = 0;
      std::size_t tied = 0;
      std::int32_t* ties = index_.data() + count;
      for (std::size_t c = 0; c < count; ++c) {
        closer += static_cast<std::size_t>(dist[c] < kth);
        ties[tied] = index[c];
        tied += static_cast<std::size_t>(dist[c] == kth);
      }
      const auto wanted = static_cast<std::ptrdiff_t>(m - closer);
      std::nth_element(ties, ties + wanted - 1, ties + tied);
      last_tied = ties[wanted - 1];
    }
    kept = 0;
    for (std::size_t c = 0; c < count; ++c) {
      out[kept] = index[c];
      kept += static_cast<std::size_t>((dist[c] < kth) |
                                       ((dist[c] == kth) & (index[c] <= last_tied)));
    }
    return kth;
  }

  // The m-th smallest of `count` >= m distances (counted with multiplicity).
  double kth_smallest(const double* dist, std::size_t count, std::size_t m) {
    if (m <= 4) {
      return smallest_by_insertion<4>(dist, count)[m - 1];
    }
    if (m <= 8) {
      return smallest_by_insertion<8>(dist, count)[m - 1];
    }
    if (m <= 16) {
      return smallest_by_insertion<16>(dist, count)[m - 1];
    }
    if (m <= 32) {
      return smallest_by_insertion<32>(dist, count)[m - 1];
    }
    std::copy(dist, dist + count, scratch_.begin());
    std::nth_element(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(m - 1),
                     scratch_.begin() + static_cast<std::ptrdiff_t>(count));
    return scratch_[m - 1];
  }

  // The C smallest distances, ascending (padded with infinity): each candidate is inserted
  // into a sorted buffer without branches, b[i] = min(b[i], max(b[i - 1], d)), which shifts
  // the larger entries up by one. A quickselect on ~20-40 candidates spends most of its time
  // in mispredicted branches instead.
  template <std::size_t C>
  std::array<double, C> smallest_by_insertion(const double* dist, std::size_t count) const {
    std::array<double, C> b;
#ifdef __SSE2__
    // The same with two doubles per register: register j holds b[2j], b[2j + 1], and the
    // shifted pair b[2j - 1], b[2j] is one shuffle away. (min/max_pd compute a < b ? a : b
    // and a > b ? a : b, exact like the scalar code.)
    constexpr std::size_t kRegs = C / 2;
    __m128d v[kRegs];
    for (__m128d& r : v) {
      r = _mm_set1_pd(kInfinity);
    }
    for (std::size_t c = 0; c < count; ++c) {
      const __m128d d = _mm_set1_pd(dist[c]);
      for (std::size_t j = kRegs - 1; j > 0; --j) {
        const __m128d shifted = _mm_shuffle_pd(v[j - 1], v[j], 1);
        v[j] = _mm_min_pd(v[j], _mm_max_pd(shifted, d));
      }
      // b[-1] is minus infinity: the shifted pair is (d, b[0]).
      v[0] = _mm_min_pd(v[0], _mm_max_pd(_mm_unpacklo_pd(d, v[0]), d));
    }
    for (std::size_t j = 0; j < kRegs; ++j) {
      _mm_storeu_pd(b.data() + 2 * j, v[j]);
    }
    return b;
#else
    b.fill(kInfinity);
    for (std::size_t c = 0; c < count; ++c) {
      const double d = dist[c];
      for (std::size_t i = C - 1; i > 0; --i) {
        const double shifted = b[i - 1] > d ? b[i - 1] : d;
        b[i] = b[i] < shifted ? b[i] : shifted;
      }
      b[0] = b[0] < d ? b[0] : d;
    }
    return b;
#endif
  }

  std::size_t n_;
  std::size_t dim_;
  Periodicity periodic_;
  Axis axes_[2];
  double area_ = 0.0;
  double margin_ = 0.0;
  std::vector<std::size_t> start_;     // nodes of cell c: slots start_[c] .. start_[c + 1]
  std::vector<std::int32_t> order_;    // node in each slot
  std::vector<std::size_t> slot_;      // slot of each node
  std::vector<double> sorted_pos_;     // positions by slot, promoted to double
  std::vector<double> grid_pos_;       // folded grid coordinates of each node
  std::vector<double> dist_;           // candidates of the current query
  std::vector<std::int32_t> index_;    // candidates, then tied candidates
  std::vector<double> scratch_;        // distances being partitioned
  std::vector<double> coord_[2];       // scratch of build()
  std::vector<int> cell_of_;
  std::vector<std::size_t> fill_;
};

// Writes `count` distinct local node indices `keys`, sorted and plus `offset`, to `out`, by
// counting ranks (no data-dependent branches; 32-bit keys so that the counting vectorises).
void sort_distinct(const std::int32_t* keys, std::size_t count, std::int64_t offset,
                   std::int64_t* out) {
  for (std::size_t a = 0; a < count; ++a) {
    const std::int32_t key = keys[a];
    std::int32_t rank = 0;
    for (std::size_t b = 0; b < count; ++b) {
      rank += static_cast<std::int32_t>(keys[b] < key);
    }
    out[rank] = key + offset;
  }
}

// Asks Linux to back a large, still untouched buffer with transparent huge pages (when they
// are enabled "on madvise"): a batch of 1000 graphs of 1000 nodes fills 256 MB of edges, whose
// 4 KB page faults otherwise take ~10% of the time.
void advise_huge_pages(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHugePage = std::uintptr_t{1} << 21;
  if (bytes < 4 * kHugePage) {
    return;
  }
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t last = (begin + bytes) & ~(kHugePage - 1);
  if (first < last) {
    madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);  // a hint: may fail
  }
#else
  (void)data;
  (void)bytes;
#endif
}

// Builds the edges of global nodes [node_begin, node_end) into their slots of `out`.
void knn_range(const PointBatch& points, const KnnOptions& options,
               const std::vector<std::int64_t>& edge_ptr, std::size_t node_begin,
               std::size_t node_end, EdgeIndex& out) {
  const std::size_t num_edges = out.num_edges();
  std::int64_t* src = out.data.data();
  std::int64_t* dst = src + num_edges;
  // First graph that owns node_begin: the last g with ptr[g] <= node_begin.
  const std::int64_t* first = std::upper_bound(
      points.ptr, points.ptr + points.num_graphs + 1, static_cast<std::int64_t>(node_begin));
  GraphSearch search(points.dim, options.periodic);
  std::vector<std::int32_t> keys;
  for (std::size_t g = static_cast<std::size_t>(first - points.ptr) - 1;
       g < points.num_graphs && static_cast<std::size_t>(points.ptr[g]) < node_end; ++g) {
    const std::size_t begin = static_cast<std::size_t>(points.ptr[g]);
    const std::size_t n = points.graph_size(g);
    const auto deg = static_cast<std::size_t>(
        knn_degree(static_cast<std::int64_t>(n), options.k, options.loop));
    if (deg == 0) {
      continue;
    }
    const std::size_t m = deg - (options.loop ? 1 : 0);
    search.assign(points.pos + begin * points.dim, n);
    keys.resize(n + 1);  // select() writes up to all candidates
    const std::size_t lo = std::max(begin, node_begin) - begin;
    const std::size_t hi = std::min(begin + n, node_end) - begin;
    double radius2 = search.initial_radius2(m);
    for (std::size_t s = 0; s < n; ++s) {
      const std::size_t i = search.node_in_slot(s);
      if (i < lo || i >= hi) {
        continue;
      }
      const std::size_t e = static_cast<std::size_t>(edge_ptr[g]) + i * deg;
      std::int64_t* sources = src + e;
      if (m > 0) {
        radius2 = kRadiusSlack * search.query(i, m, radius2, keys.data());
      }
      if (options.loop) {
        keys[m] = static_cast<std::int32_t>(i);
      }
      if (!options.loop && search.single_cell()) {
        for (std::size_t a = 0; a < deg; ++a) {
          sources[a] = keys[a] + static_cast<std::int64_t>(begin);
        }
      } else {
        sort_distinct(keys.data(), deg, static_cast<std::int64_t>(begin), sources);
      }
    }
    // Targets in a second, sequential pass: the queries above go in grid order.
    std::int64_t* targets = dst + edge_ptr[g];
    for (std::size_t i = lo; i < hi; ++i) {
      std::fill(targets + i * deg, targets + (i + 1) * deg, static_cast<std::int64_t>(begin + i));
    }
  }
}

}  // namespace

std::int64_t knn_degree(std::int64_t num_nodes, std::int64_t k, bool loop) {
  return std::max<std::int64_t>(0, std::min(k, loop ? num_nodes : num_nodes - 1));
}

EdgeIndex knn_graph(const PointBatch& points, const KnnOptions& options) {
  if (options.k < 1) {
    throw std::invalid_argument("k = " + std::to_string(options.k) + " must be at least 1");
  }
  if (options.threads < 1) {
    throw std::invalid_argument("threads = " + std::to_string(options.threads) +
                                " must be at least 1");
  }
  points.validate();
  options.periodic.validate(points.dim);

  std::vector<std::int64_t> edge_ptr(points.num_graphs + 1, 0);
  for (std::size_t g = 0; g < points.num_graphs; ++g) {
    const auto n = static_cast<std::int64_t>(points.graph_size(g));
    if (n > std::numeric_limits<std::int32_t>::max()) {
      throw std::invalid_argument("graph " + std::to_string(g) + " has " + std::to_string(n) +
                                  " nodes, more than knn_graph supports (2^31 - 1)");
    }
    edge_ptr[g + 1] = edge_ptr[g] + n * knn_degree(n, options.k, options.loop);
  }
  EdgeIndex out;
  const std::size_t size = 2 * static_cast<std::size_t>(edge_ptr.back());
  out.data.reserve(size);
  advise_huge_pages(out.data.data(), size * sizeof(std::int64_t));
  out.data.resize(size);

  const std::size_t n = points.num_nodes;
  const std::size_t threads =
      std::max<std::size_t>(1, std::min<std::size_t>(options.threads, n / 64));
  if (threads == 1) {
    knn_range(points, options, edge_ptr, 0, n, out);
    return out;
  }
  std::vector<std::exception_ptr> errors(threads);
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        knn_range(points, options, edge_ptr, n * t / threads, n * (t + 1) / threads, out);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (std::thread& w : workers) {
    w.join();
  }
  for (const std::exception_ptr& e : errors) {
    if (e) {
      std::rethrow_exception(e);
    }
  }
  return out;
}

}  // namespace e2e_gnn
