#include "e2e_gnn/delaunay.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace e2e_gnn {
namespace {

// ---- Exact arithmetic: a value is a sum of doubles (an "expansion", Shewchuk 1997). ----

class Exact {
 public:
  Exact() = default;
  explicit Exact(double x) {
    if (x != 0.0) {
      terms_.push_back(x);
    }
  }
  // a - b, exactly.
  static Exact difference(double a, double b) {
    const double x = a - b;
    const double bv = a - x;
    const double av = x + bv;
    const double br = bv - b;
    const double ar = a - av;
    Exact e;
    e.add(ar + br);
    e.add(x);
    return e;
  }

  Exact operator+(const Exact& other) const {
    Exact sum = *this;
    for (const double t : other.terms_) {
      sum.add(t);
    }
    return sum;
  }
  Exact operator-(const Exact& other) const {
    Exact sum = *this;
    for (const double t : other.terms_) {
      sum.add(-t);
    }
    return sum;
  }
  Exact operator*(const Exact& other) const {
    Exact product;
    for (const double a : terms_) {
      for (const double b : other.terms_) {
        const double x = a * b;
        product.add(std::fma(a, b, -x));  // the rounding error of a * b, exact
        product.add(x);
      }
    }
    return product;
  }
  // Sign of the value: the sign of its largest term.
  int sign() const {
    for (auto it = terms_.rbegin(); it != terms_.rend(); ++it) {
      if (*it != 0.0) {
        return *it > 0.0 ? 1 : -1;
      }
    }
    return 0;
  }

 private:
  // Adds b, keeping the terms non-overlapping and increasing in magnitude (Grow-Expansion).
  void add(double b) {
    std::vector<double> out;
    out.reserve(terms_.size() + 1);
    double q = b;
    for (const double e : terms_) {
      const double x = q + e;
      const double bv = x - q;
      const double av = x - bv;
      const double h = (q - av) + (e - bv);
      if (h != 0.0) {
        out.push_back(h);
      }
      q = x;
    }
    if (q != 0.0) {
      out.push_back(q);
    }
    terms_ = std::move(out);
  }

  std::vector<double> terms_;
};

struct Point {
  double x;
  double y;
};

constexpr double kEpsilon = 1.1102230246251565e-16;  // 2^-53

// Sign of the orientation of (a, b, c): > 0 counter-clockwise, < 0 clockwise, 0 collinear.
int orient(const Point& a, const Point& b, const Point& c) {
  const double left = (a.x - c.x) * (b.y - c.y);
  const double right = (a.y - c.y) * (b.x - c.x);
  const double det = left - right;
  const double bound = (3.0 + 16.0 * kEpsilon) * kEpsilon * (std::fabs(left) + std::fabs(right));
  if (det > bound || -det > bound) {
    return det > 0.0 ? 1 : -1;
  }
  const Exact e = Exact::difference(a.x, c.x) * Exact::difference(b.y, c.y) -
                  Exact::difference(a.y, c.y) * Exact::difference(b.x, c.x);
  return e.sign();
}

// > 0 when d lies strictly inside the circle through the counter-clockwise a, b, c.
int in_circle(const Point& a, const Point& b, const Point& c, const Point& d) {
  const double adx = a.x - d.x, ady = a.y - d.y;
  const double bdx = b.x - d.x, bdy = b.y - d.y;
  const double cdx = c.x - d.x, cdy = c.y - d.y;
  const double alift = adx * adx + ady * ady;
  const double blift = bdx * bdx + bdy * bdy;
  const double clift = cdx * cdx + cdy * cdy;
  const double det = alift * (bdx * cdy - cdx * bdy) + blift * (cdx * ady - adx * cdy) +
                     clift * (adx * bdy - bdx * ady);
  const double permanent = alift * (std::fabs(bdx * cdy) + std::fabs(cdx * bdy)) +
                           blift * (std::fabs(cdx * ady) + std::fabs(adx * cdy)) +
                           clift * (std::fabs(adx * bdy) + std::fabs(bdx * ady));
  const double bound = (10.0 + 96.0 * kEpsilon) * kEpsilon * permanent;
  if (det > bound || -det > bound) {
    return det > 0.0 ? 1 : -1;
  }
  const Exact ax = Exact::difference(a.x, d.x), ay = Exact::difference(a.y, d.y);
  const Exact bx = Exact::difference(b.x, d.x), by = Exact::difference(b.y, d.y);
  const Exact cx = Exact::difference(c.x, d.x), cy = Exact::difference(c.y, d.y);
  const Exact e = (ax * ax + ay * ay) * (bx * cy - cx * by) +
                  (bx * bx + by * by) * (cx * ay - ax * cy) +
                  (cx * cx + cy * cy) * (ax * by - bx * ay);
  return e.sign();
}

// ---- Bowyer-Watson insertion with "ghost" triangles on the hull (Shewchuk's lecture notes).
// A ghost triangle has the vertex kGhost; its other two vertices, in cyclic order after kGhost,
// form a hull edge with the ghost (the outside) on its left.

constexpr int kGhost = -1;

struct Triangle {
  int v[3];
  int nb[3];  // nb[k]: the triangle across the edge v[k + 1] -> v[k + 2], opposite v[k]
  bool alive;
};

class Triangulation {
 public:
  explicit Triangulation(std::vector<Point> points) : p_(std::move(points)) {}

  // Triangulates the points in the given order; the first three must not be collinear.
  void build(const std::vector<int>& order) {
    int a = order[0], b = order[1], c = order[2];
    if (orient(p_[a], p_[b], p_[c]) < 0) {
      std::swap(b, c);
    }
    const int t = add({a, b, c});
    add({b, a, kGhost});
    add({c, b, kGhost});
    add({a, c, kGhost});
    link({0, 1, 2, 3});
    last_ = t;
    for (std::size_t r = 3; r < order.size(); ++r) {
      insert(order[r]);
    }
  }

  // Calls f(u, v) for every edge of every real triangle (interior edges once per side).
  template <class F>
  void for_each_edge(F&& f) const {
    for (const Triangle& t : tris_) {
      if (t.alive && t.v[0] != kGhost && t.v[1] != kGhost && t.v[2] != kGhost) {
        for (int k = 0; k < 3; ++k) {
          f(t.v[k], t.v[(k + 1) % 3]);
        }
      }
    }
  }

 private:
  int add(std::initializer_list<int> v) {
    Triangle t{};
    std::copy(v.begin(), v.end(), t.v);
    t.nb[0] = t.nb[1] = t.nb[2] = -1;
    t.alive = true;
    tris_.push_back(t);
    return static_cast<int>(tris_.size()) - 1;
  }

  // Links the triangles of `ids` that share an edge.
  void link(const std::vector<int>& ids) {
    for (const int s : ids) {
      for (int k = 0; k < 3; ++k) {
        const int u = tris_[s].v[(k + 1) % 3], w = tris_[s].v[(k + 2) % 3];
        for (const int o : ids) {
          for (int l = 0; o != s && l < 3; ++l) {
            if (tris_[o].v[(l + 1) % 3] == w && tris_[o].v[(l + 2) % 3] == u) {
              tris_[s].nb[k] = o;
            }
          }
        }
      }
    }
  }

  static bool is_ghost(const Triangle& t) {
    return t.v[0] == kGhost || t.v[1] == kGhost || t.v[2] == kGhost;
  }

  // Whether point q lies strictly inside the circumcircle of triangle t (for a ghost: strictly
  // outside its hull edge, or on the open hull edge itself).
  bool conflicts(int t, int q) const {
    const Triangle& tri = tris_[t];
    if (!is_ghost(tri)) {
      return in_circle(p_[tri.v[0]], p_[tri.v[1]], p_[tri.v[2]], p_[q]) > 0;
    }
    int k = 0;
    while (tri.v[k] != kGhost) {
      ++k;
    }
    const Point& a = p_[tri.v[(k + 1) % 3]];
    const Point& b = p_[tri.v[(k + 2) % 3]];
    const int o = orient(a, b, p_[q]);
    if (o != 0) {
      return o > 0;
    }
    const Point& pq = p_[q];
    // Collinear: inside the open segment (distinct points, so compare along either axis).
    if (a.x != b.x) {
      return std::min(a.x, b.x) < pq.x && pq.x < std::max(a.x, b.x);
    }
    return std::min(a.y, b.y) < pq.y && pq.y < std::max(a.y, b.y);
  }

  // A triangle in conflict with q, found by walking from the last real triangle.
  int locate(int q) const {
    int t = last_;
    const std::size_t limit = 4 * tris_.size() + 16;
    for (std::size_t step = 0; step < limit; ++step) {
      const Triangle& tri = tris_[t];
      if (is_ghost(tri)) {
        return t;  // entered across a hull edge that q lies strictly outside of
      }
      int next = -1;
      for (int r = 0; r < 3 && next < 0; ++r) {
        const int k = (r + static_cast<int>(step)) % 3;  // rotate the start: no cycles
        if (orient(p_[tri.v[(k + 1) % 3]], p_[tri.v[(k + 2) % 3]], p_[q]) < 0) {
          next = tri.nb[k];
        }
      }
      if (next < 0) {
        return t;  // q lies in the closed triangle: strictly inside its circumcircle
      }
      t = next;
    }
    for (std::size_t s = 0; s < tris_.size(); ++s) {  // safety net, never expected
      if (tris_[s].alive && conflicts(static_cast<int>(s), q)) {
        return static_cast<int>(s);
      }
    }
    throw std::logic_error("delaunay: no triangle in conflict with a new point");
  }

  void insert(int q) {
    // The cavity: all triangles in conflict with q, connected to the located one.
    std::vector<int> cavity{locate(q)};
    tris_[cavity[0]].alive = false;
    for (std::size_t c = 0; c < cavity.size(); ++c) {
      for (int k = 0; k < 3; ++k) {
        const int o = tris_[cavity[c]].nb[k];
        if (tris_[o].alive && conflicts(o, q)) {
          tris_[o].alive = false;
          cavity.push_back(o);
        }
      }
    }
    // Fan q to every boundary edge of the cavity.
    std::vector<int> created;
    for (const int c : cavity) {
      for (int k = 0; k < 3; ++k) {
        const int o = tris_[c].nb[k];
        if (!tris_[o].alive) {
          continue;
        }
        const int u = tris_[c].v[(k + 1) % 3], w = tris_[c].v[(k + 2) % 3];
        const int t = add({u, w, q});
        tris_[t].nb[2] = o;
        for (int l = 0; l < 3; ++l) {
          if (tris_[o].v[(l + 1) % 3] == w && tris_[o].v[(l + 2) % 3] == u) {
            tris_[o].nb[l] = t;
          }
        }
        created.push_back(t);
      }
    }
    // Link the new triangles to each other through their edges at q.
    std::map<int, int> starting_at;  // u -> new triangle (u, w, q)
    for (const int t : created) {
      starting_at[tris_[t].v[0]] = t;
    }
    for (const int t : created) {
      const int w = tris_[t].v[1];
      const int next = starting_at.at(w);  // (w, x, q) shares the edge w - q
      tris_[t].nb[0] = next;                // opposite u: edge w -> q
      tris_[next].nb[1] = t;                // opposite x: edge q -> w
      if (!is_ghost(tris_[t])) {
        last_ = t;
      }
    }
  }

  std::vector<Point> p_;
  std::vector<Triangle> tris_;
  int last_ = 0;
};

// Edges (target, source) of one graph with local node indices, in any order.
void graph_edges(const float* pos, std::size_t n, std::vector<std::pair<int, int>>& edges) {
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  const auto lexicographic = [pos](int a, int b) {
    return pos[2 * a] < pos[2 * b] || (pos[2 * a] == pos[2 * b] && pos[2 * a + 1] < pos[2 * b + 1]);
  };
  std::stable_sort(order.begin(), order.end(), lexicographic);
  // Repeated positions: join later copies to the first (the smallest index) and drop them.
  std::vector<int> distinct;
  for (std::size_t r = 0; r < n; ++r) {
    const int i = order[r];
    if (!distinct.empty() && !lexicographic(distinct.back(), i)) {
      edges.emplace_back(distinct.back(), i);
      edges.emplace_back(i, distinct.back());
    } else {
      distinct.push_back(i);
    }
  }
  if (distinct.size() < 2) {
    return;
  }
  std::vector<Point> points(n);
  for (std::size_t i = 0; i < n; ++i) {
    points[i] = {pos[2 * i], pos[2 * i + 1]};
  }
  // The first point not on the line through the first two; none: all collinear, and the
  // lexicographic order is the order along the line.
  std::size_t third = 2;
  while (third < distinct.size() &&
         orient(points[distinct[0]], points[distinct[1]], points[distinct[third]]) == 0) {
    ++third;
  }
  if (third == distinct.size()) {
    for (std::size_t r = 1; r < distinct.size(); ++r) {
      edges.emplace_back(distinct[r - 1], distinct[r]);
      edges.emplace_back(distinct[r], distinct[r - 1]);
    }
    return;
  }
  std::rotate(distinct.begin() + 2, distinct.begin() + static_cast<std::ptrdiff_t>(third),
              distinct.begin() + static_cast<std::ptrdiff_t>(third) + 1);
  Triangulation triangulation(std::move(points));
  triangulation.build(distinct);
  triangulation.for_each_edge([&](int u, int w) {
    edges.emplace_back(w, u);
    edges.emplace_back(u, w);
  });
}

}  // namespace

EdgeIndex delaunay_graph(const PointBatch& points) {
  points.validate();
  if (points.dim != 2) {
    throw std::invalid_argument("delaunay_graph needs 2 coordinates per node (eta, phi), got " +
                                std::to_string(points.dim));
  }
  std::vector<std::int64_t> sources, targets;
  std::vector<std::pair<int, int>> edges;
  for (std::size_t g = 0; g < points.num_graphs; ++g) {
    const std::size_t n = points.graph_size(g);
    if (n > static_cast<std::size_t>(std::numeric_limits<int>::max() / 8)) {
      throw std::invalid_argument("graph " + std::to_string(g) + " has " + std::to_string(n) +
                                  " nodes, too many for delaunay_graph");
    }
    edges.clear();
    graph_edges(points.pos + 2 * points.ptr[g], n, edges);
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    for (const auto& [target, source] : edges) {
      targets.push_back(points.ptr[g] + target);
      sources.push_back(points.ptr[g] + source);
    }
  }
  EdgeIndex out;
  out.data = std::move(sources);
  out.data.insert(out.data.end(), targets.begin(), targets.end());
  return out;
}

}  // namespace e2e_gnn
