// The generator's detector response: numerics, cell deposits, the nearest-track search, the
// readout and the whole chunk on small hand-made inputs. (tests/generate/test_detector.py
// compares the whole response with the former NumPy implementation on Pythia events.)
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "e2e_gnn/detector.hpp"

using namespace e2e_gnn::detector;

namespace {

constexpr double kTwoPi = 6.283185307179586;

// A deterministic RandomSource from the standard library (not NumPy's streams).
class TestRandom final : public RandomSource {
 public:
  explicit TestRandom(std::uint64_t seed) : engine_(seed) {}
  double random() override { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }
  double normal(double loc, double scale) override {
    return loc + scale * standard_normal();
  }
  double standard_normal() override { return std::normal_distribution<double>()(engine_); }
  double standard_gamma(double shape) override {
    return std::gamma_distribution<double>(shape, 1.0)(engine_);
  }
  double gamma(double shape, double scale) override { return scale * standard_gamma(shape); }
  double beta(double a, double b) override {
    const double x = standard_gamma(a);
    return x / (x + standard_gamma(b));
  }
  std::int64_t poisson(double lam) override {
    return std::poisson_distribution<std::int64_t>(lam)(engine_);
  }
  void integers(std::int64_t high, std::size_t n, std::int64_t* out) override {
    std::uniform_int_distribution<std::int64_t> uniform(0, high - 1);
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = uniform(engine_);
    }
  }

 private:
  std::mt19937_64 engine_;
};

CaloGrid ecal_grid() {
  CaloGrid grid;
  grid.cell_eta = 0.0174;
  grid.n_phi = 360;
  grid.ieta_min = -85;
  grid.ieta_max = 84;
  grid.n_layers = 3;
  return grid;
}

void add_shower(ShowerColumns& s, std::int64_t event, double energy, double eta, double phi,
                double sigma, std::int64_t track, std::vector<double> profile = {0.2, 0.5, 0.3}) {
  s.event.push_back(event);
  s.energy.push_back(energy);
  s.eta.push_back(eta);
  s.phi.push_back(phi);
  s.sigma.push_back(sigma);
  s.track.push_back(track);
  s.layers.insert(s.layers.end(), profile.begin(), profile.end());
}

double total(const std::vector<double>& values) {
  return std::accumulate(values.begin(), values.end(), 0.0);
}

}  // namespace

TEST_CASE("ndtr and its inverse") {
  CHECK(ndtr(0.0) == 0.5);
  CHECK(ndtr(1.959963984540054) == doctest::Approx(0.975).epsilon(1e-14));
  CHECK(ndtr(-8.0) == doctest::Approx(6.220960574271784e-16).epsilon(1e-12));
  for (const double x : {-30.0, -6.0, -1.5, -0.2, 0.0, 0.7, 2.0, 5.0}) {
    CHECK(ndtr(x) + ndtr(-x) == doctest::Approx(1.0).epsilon(1e-15));
  }
  for (const double p : {1e-300, 1e-20, 1e-9, 0.01, 0.3, 0.5, 0.9, 0.99997, 1.0 - 1e-16}) {
    CHECK(ndtr(ndtri(p)) == doctest::Approx(p).epsilon(1e-13));
  }
  CHECK(ndtri(0.5) == doctest::Approx(0.0).epsilon(1e-15));
  CHECK(std::isinf(ndtri(0.0)));
  CHECK(ndtri(0.0) < 0);
  CHECK(std::isinf(ndtri(1.0)));
  CHECK(std::isnan(ndtri(1.5)));
  CHECK(std::isnan(ndtri(std::numeric_limits<double>::quiet_NaN())));
}

TEST_CASE("phi folding is NumPy's floor modulo") {
  for (const double phi : {-12.0, -kTwoPi, -3.5, -1e-20, -0.0, 0.0, 1.0, 3.2, kTwoPi, 9.0, 40.0}) {
    double mod = std::fmod(phi, kTwoPi);
    if (mod != 0.0 && mod < 0.0) {
      mod += kTwoPi;
    } else if (mod == 0.0) {
      mod = 0.0;
    }
    CHECK(phi_mod_2pi(phi) == mod);
    CHECK(!std::signbit(phi_mod_2pi(phi)));
    const double wrapped = wrap_phi(phi);
    CHECK(wrapped >= -3.141592653589793);
    CHECK(wrapped < 3.141592653589794);
  }
  CHECK(wrap_phi(3.0) == 3.0);
  CHECK(wrap_phi(3.5) == doctest::Approx(3.5 - kTwoPi));
}

TEST_CASE("dirichlet rows sum to one, in both of NumPy's algorithms") {
  TestRandom rng(1);
  std::vector<double> row(3);
  for (const std::vector<double>& alpha :
       {std::vector<double>{7.5, 18.0, 4.5}, std::vector<double>{0.02, 0.05, 0.01}}) {
    for (int i = 0; i < 100; ++i) {
      dirichlet(rng, alpha, row.data());
      CHECK(total(row) == doctest::Approx(1.0));
      CHECK(*std::min_element(row.begin(), row.end()) >= 0.0);
    }
  }
  CHECK_THROWS_AS(dirichlet(rng, {1.0, 0.0}, row.data()), std::invalid_argument);
  CHECK_THROWS_AS(dirichlet(rng, {1.0, std::nan("")}, row.data()), std::invalid_argument);
}

TEST_CASE("a shower's energy is shared over its window and its layers") {
  const CaloGrid grid = ecal_grid();
  ShowerColumns showers;
  // event 0: a point-like shower in cell (ieta 5, iphi 10); event 1: a spread one in the middle
  // of cell (-3, 100), and one of another track 2 cells away in eta
  add_shower(showers, 0, 10.0, 5.5 * 0.0174, 10.5 * kTwoPi / 360, 0.0, -1);
  add_shower(showers, 1, 20.0, -2.5 * 0.0174, 100.5 * kTwoPi / 360, 0.5, 0);
  add_shower(showers, 1, 4.0, -0.5 * 0.0174, 100.5 * kTwoPi / 360, 0.5, 1);
  const CaloDeposits deposits(grid, showers.view(), 2, 2);
  REQUIRE(deposits.event_begin() == std::vector<std::int64_t>{0, 1, 16});
  CHECK(deposits.cells().front() == (5 + 85) * 360 + 10);
  CHECK(deposits.cell_ieta().front() == 5);
  CHECK(deposits.cell_iphi().front() == 10);
  CHECK(std::vector<double>(deposits.energy().begin(), deposits.energy().begin() + 3) ==
        std::vector<double>{10.0 * 0.2, 10.0 * 0.5, 10.0 * 0.3});
  CHECK(std::is_sorted(deposits.cells().begin(), deposits.cells().end()));
  CHECK(total(deposits.energy()) == doctest::Approx(34.0));
  // the 3 x 3 windows overlap in one eta row: 15 cells, symmetric around the centre
  const std::int64_t centre = 170 * 360 + (-3 + 85) * 360 + 100;
  const auto at = std::find(deposits.cells().begin(), deposits.cells().end(), centre);
  REQUIRE(at != deposits.cells().end());
  const auto c = static_cast<std::size_t>(at - deposits.cells().begin());
  CHECK(deposits.track_energy(c, 0, 1) > 0.5 * 20.0 * 0.5 * 0.5);
  CHECK(deposits.track_energy(c, 1, 1) == 0.0);
  double track0 = 0.0;
  for (std::size_t cell = 1; cell < deposits.cells().size(); ++cell) {
    for (std::int64_t layer = 0; layer < 3; ++layer) {
      track0 += deposits.track_energy(cell, 0, layer);
    }
  }
  CHECK(track0 == doctest::Approx(20.0));
  CHECK_THROWS_AS(deposits.track_energy(99, 0, 0), std::out_of_range);
  CHECK_THROWS_AS(deposits.track_energy(0, 0, 3), std::out_of_range);
}

TEST_CASE("deposits wrap around in phi and are lost beyond the eta range") {
  const CaloGrid grid = ecal_grid();
  ShowerColumns showers;
  add_shower(showers, 0, 1.0, 0.1, -0.001, 0.5, -1);                    // just below phi = 0
  add_shower(showers, 0, 1.0, 84.5 * 0.0174, 1.0, 0.5, -1);             // in the last eta row
  add_shower(showers, 0, 1.0, 84.5 * 0.0174 + 3 * 0.0174, 2.0, 0.0, -1);  // beyond it: nothing
  const CaloDeposits deposits(grid, showers.view(), 1, 0);
  std::vector<std::int32_t> iphi_of_first;
  for (std::size_t c = 0; c < deposits.cells().size(); ++c) {
    if (deposits.cell_ieta()[c] == 5) {
      iphi_of_first.push_back(deposits.cell_iphi()[c]);
    }
  }
  CHECK(iphi_of_first == std::vector<std::int32_t>{0, 358, 359});
  // the first shower keeps everything, the second loses its row beyond ieta = 84
  CHECK(total(deposits.energy()) > 1.0 + 0.5);
  CHECK(total(deposits.energy()) < 2.0);
  CHECK(*std::max_element(deposits.cell_ieta().begin(), deposits.cell_ieta().end()) == 84);
}

TEST_CASE("deposits refuse bad showers and grids") {
  ShowerColumns showers;
  add_shower(showers, 0, 1.0, 0.1, 0.2, 0.5, -1);
  CHECK_THROWS_AS(CaloDeposits(ecal_grid(), showers.view(), 0, 0), std::out_of_range);
  showers.track[0] = 3;
  CHECK_THROWS_AS(CaloDeposits(ecal_grid(), showers.view(), 1, 3), std::out_of_range);
  showers.track[0] = -1;
  showers.sigma[0] = 101.0;
  CHECK_THROWS_AS(CaloDeposits(ecal_grid(), showers.view(), 1, 0), std::invalid_argument);
  showers.sigma[0] = 0.5;
  showers.energy[0] = 0.0;
  CHECK_THROWS_AS(CaloDeposits(ecal_grid(), showers.view(), 1, 0), std::invalid_argument);
  showers.energy[0] = 1.0;
  showers.eta[0] = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(CaloDeposits(ecal_grid(), showers.view(), 1, 0), std::invalid_argument);
  showers.eta[0] = 0.1;
  CaloGrid grid = ecal_grid();
  grid.n_phi = 0;
  CHECK_THROWS_AS(CaloDeposits(grid, showers.view(), 1, 0), std::invalid_argument);
  grid = ecal_grid();
  grid.n_phi = 1 << 20;
  CHECK_THROWS_AS(CaloDeposits(grid, showers.view(), 1, 0), std::invalid_argument);
}

TEST_CASE("the nearest track equals an all-pairs search, across the phi seam too") {
  std::mt19937 engine(14);
  std::uniform_real_distribution<float> eta(-1.5f, 1.5f);
  std::uniform_real_distribution<float> phi(-3.14159f, 3.14159f);
  const std::int64_t n_events = 5;
  std::vector<std::int64_t> event(200);
  std::vector<float> t_eta(200);
  std::vector<float> t_phi(200);
  for (std::size_t t = 0; t < event.size(); ++t) {
    event[t] = static_cast<std::int64_t>(t * n_events / event.size());
    t_eta[t] = eta(engine);
    t_phi[t] = t % 20 == 0 ? 3.13f : phi(engine);
  }
  t_eta[1] = t_eta[0];  // an exact tie: the lower index wins
  t_phi[1] = t_phi[0];
  const TrackView tracks{event.size(), event.data(), t_eta.data(), t_phi.data()};
  for (const double radius : {0.2, 0.05, 4.0}) {
    const NearestTrack finder(tracks, n_events, radius);
    for (int q = 0; q < 3000; ++q) {
      const std::int64_t e = q % n_events;
      const double qe = q == 0 ? t_eta[0] : eta(engine);
      const double qp = q == 0 ? t_phi[0] : (q % 10 == 0 ? -3.13 : phi(engine));
      std::int64_t expected = -1;
      double best = radius * radius;
      for (std::size_t t = 0; t < event.size(); ++t) {
        if (event[t] != e) {
          continue;
        }
        double dphi = std::fabs(qp - t_phi[t]);
        dphi = std::min(dphi, kTwoPi - dphi);
        const double dr2 = (qe - t_eta[t]) * (qe - t_eta[t]) + dphi * dphi;
        if (dr2 < best) {
          best = dr2;
          expected = static_cast<std::int64_t>(t);
        }
      }
      REQUIRE(finder.find(e, qe, qp) == expected);
    }
  }
  CHECK(NearestTrack(tracks, n_events, 0.2).find(0, t_eta[0], t_phi[0]) == 0);
  CHECK(NearestTrack(tracks, n_events, 0.0).find(0, t_eta[0], t_phi[0]) == -1);
  CHECK_THROWS_AS(NearestTrack(tracks, n_events, 0.2).find(n_events, 0.0, 0.0),
                  std::out_of_range);
  CHECK_THROWS_AS(NearestTrack(tracks, 2, 0.2), std::out_of_range);
  CHECK_THROWS_AS(NearestTrack(tracks, n_events, -1.0), std::invalid_argument);
  std::swap(event[0], event[199]);
  CHECK_THROWS_AS(NearestTrack(tracks, n_events, 0.2), std::invalid_argument);
}

TEST_CASE("a track's calorimeter impact: the bend and the line through its closest approach") {
  // 0.3 B R / 2 = 0.7353 GeV for 3.8 T and 1.29 m: sin(bend) = 0.7353 / pT
  CHECK(phi_bend(1.0, 3.0, 3.8, 1.29) == doctest::Approx(std::asin(0.7353 / 3.0)).epsilon(1e-4));
  CHECK(phi_bend(-1.0, 3.0, 3.8, 1.29) == -phi_bend(1.0, 3.0, 3.8, 1.29));
  CHECK(phi_bend(0.0, 0.1, 3.8, 1.29) == 0.0);
  CHECK(std::isnan(phi_bend(1.0, 0.7, 3.8, 1.29)));  // loops before 1.29 m
  double eta = 7.0;
  double phi = 7.0;
  REQUIRE(calorimeter_impact(3.0, 0.5, 3.0, 1.0, 0.0, 0.0, 3.8, 1.29, eta, phi));
  CHECK(eta == doctest::Approx(0.5));
  CHECK(phi == doctest::Approx(3.0 - std::asin(0.7353 / 3.0)).epsilon(1e-4));
  REQUIRE(calorimeter_impact(2.0, 0.0, 3.1, -1.0, 0.0, 0.0, 3.8, 1.29, eta, phi));
  CHECK(phi == doctest::Approx(3.1 + std::asin(0.7353 / 2.0) - kTwoPi).epsilon(1e-4));  // wrapped
  // a neutral line from (0, 10 cm, 12.9 cm) (d0 = 10 cm) at phi 0 crosses 129 cm at
  // (sqrt(129^2 - 10^2), 10, 12.9 + that length x sinh(0.2))
  REQUIRE(calorimeter_impact(5.0, 0.2, 0.0, 0.0, 10.0, 12.9, 3.8, 1.29, eta, phi));
  const double x = std::sqrt(129.0 * 129.0 - 100.0);
  CHECK(eta == doctest::Approx(std::asinh((12.9 + x * std::sinh(0.2)) / 129.0)));
  CHECK(phi == doctest::Approx(std::atan2(10.0, x)));
  eta = phi = 7.0;
  CHECK_FALSE(calorimeter_impact(0.7, 0.0, 0.0, 1.0, 0.0, 0.0, 3.8, 1.29, eta, phi));
  CHECK_FALSE(calorimeter_impact(5.0, 0.0, 0.0, 1.0, 130.0, 0.0, 3.8, 1.29, eta, phi));
  CHECK_FALSE(calorimeter_impact(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.8, 1.29, eta, phi));
  CHECK(eta == 7.0);
  CHECK(phi == 7.0);
  CHECK_THROWS_AS(calorimeter_impact(std::numeric_limits<double>::quiet_NaN(), 0.0, 0.0, 1.0,
                                     0.0, 0.0, 3.8, 1.29, eta, phi),
                  std::invalid_argument);
}

TEST_CASE("the nearest track reports the tracks' own indices") {
  const std::vector<std::int64_t> event{0, 0};
  const std::vector<float> t_eta{0.0f, 0.5f};
  const std::vector<float> t_phi{0.0f, 0.0f};
  std::vector<std::int64_t> index{3, 7};
  TrackView tracks{2, event.data(), t_eta.data(), t_phi.data(), index.data()};
  const NearestTrack finder(tracks, 1, 0.2);
  CHECK(finder.find(0, 0.05, 0.0) == 3);
  CHECK(finder.find(0, 0.45, 0.0) == 7);
  index = {7, 3};
  CHECK_THROWS_AS(NearestTrack(tracks, 1, 0.2), std::invalid_argument);
}

TEST_CASE("the readout keeps what passes the threshold, with truth fractions and noise cells") {
  CaloGrid grid = ecal_grid();
  grid.threshold = 0.1;
  ShowerColumns showers;
  add_shower(showers, 0, 10.0, 0.3, 1.0, 0.0, 0, {1.0, 0.05, 0.0});  // layer 2 below threshold
  add_shower(showers, 1, 5.0, -0.3, 2.0, 0.0, -1, {0.5, 0.5, 0.0});  // no track
  add_shower(showers, 1, 5.0, -0.3, 2.0, 0.0, 1, {0.6, 0.2, 0.2});   // same cell, track 1
  const CaloDeposits deposits(grid, showers.view(), 2, 2);
  CaloNoise noise;
  noise.cell_noise.assign(deposits.energy().size(), 0.0);
  noise.cell = {1 * grid.cells_per_event() + 7, 0 * grid.cells_per_event() + 11};
  noise.layer = {2, 0};
  noise.energy = {0.5, 0.05};  // the second stays below threshold
  const std::vector<std::int64_t> t_event{0, 1};
  const std::vector<float> t_eta{0.3f, -0.3f};
  const std::vector<float> t_phi{1.0f, 2.0f};
  const TrackView tracks{2, t_event.data(), t_eta.data(), t_phi.data()};
  const CaloHits hits = calorimeter_hits({{&deposits, &noise}}, tracks, 0.2);
  REQUIRE(hits.counts == std::vector<std::int64_t>{2, 4});
  CHECK(hits.layer == std::vector<std::int32_t>{0, 1, 0, 1, 2, 2});
  CHECK(hits.energy[0] == 10.0f);
  CHECK(hits.truth_fraction[0] == 1.0f);
  CHECK(hits.truth_fraction[2] == doctest::Approx(3.0 / 5.5));
  CHECK(hits.truth_fraction[4] == doctest::Approx(1.0));
  CHECK(hits.truth_fraction[5] == -1.0f);  // the noise cell (ieta -85) is far from the track
  CHECK(hits.ieta[5] == -85);
  CHECK(hits.iphi[5] == 7);
  CHECK(hits.eta[0] == static_cast<float>((17 + 0.5) * 0.0174));
  CHECK(hits.phi[5] == static_cast<float>(wrap_phi(7.5 * (kTwoPi / 360))));
  CHECK(std::all_of(hits.subdet.begin(), hits.subdet.end(), [](std::int32_t s) { return s == 0; }));

  CaloNoise short_noise = noise;
  short_noise.cell_noise.pop_back();
  CHECK_THROWS_AS(calorimeter_hits({{&deposits, &short_noise}}, tracks, 0.2),
                  std::invalid_argument);
  CaloNoise far_noise = noise;
  far_noise.cell[0] = 2 * grid.cells_per_event();
  CHECK_THROWS_AS(calorimeter_hits({{&deposits, &far_noise}}, tracks, 0.2), std::out_of_range);
  CHECK_THROWS_AS(calorimeter_hits({}, tracks, 0.2), std::invalid_argument);
  CHECK_THROWS_AS(calorimeter_hits({{&deposits, nullptr}}, tracks, 0.2), std::invalid_argument);
}

namespace {

DetectorParameters quiet_detector() {
  DetectorParameters d;
  d.barrel_eta_max = 1.479;
  d.magnetic_field_t = 3.8;
  d.calo_radius_m = 1.29;
  d.ecal = ecal_grid();
  d.hcal = ecal_grid();
  d.hcal.subdet = 1;
  d.hcal.cell_eta = 0.087;
  d.hcal.n_phi = 72;
  d.hcal.ieta_min = -17;
  d.hcal.ieta_max = 16;
  d.ecal_stochastic = 0.028;
  d.ecal_constant = 0.003;
  d.hcal_stochastic = 1.0;
  d.hcal_constant = 0.05;
  d.ecal_em_layers = {0.25, 0.6, 0.15};
  d.ecal_hadron_layers = {0.3, 0.4, 0.3};
  d.hcal_layers = {0.45, 0.35, 0.2};
  d.ecal_layer_radii = {131.5, 140.0, 149.0};
  d.hcal_layer_radii = {195.0, 235.0, 275.0};
  d.layer_concentration = 30.0;
  d.hadron_ecal_fraction = 0.3;
  d.hadron_ecal_concentration = 4.0;
  d.ecal_em_spread = 0.5;
  d.ecal_hadron_spread = 0.7;
  d.hcal_spread = 0.4;
  d.muon_ecal = 0.3;
  d.muon_hcal = 2.0;
  d.spread_min_energy = 1.0;
  d.truth_radius = 0.2;
  d.track_pt_min = 0.5;
  d.track_eta_max = 2.5;
  d.track_efficiency = 1.0;
  d.track_max_vertex_radius = 50.0;
  d.track_pt_resolution = 0.008;
  d.track_pt_resolution_slope = 1.5e-4;
  d.track_angle_resolution = 0.001;
  d.track_d0_resolution = 0.0015;
  d.track_d0_resolution_ms = 0.0035;
  d.track_dz_resolution = 0.003;
  d.track_dz_resolution_ms = 0.005;
  d.pixel_radii = {2.9, 6.8, 10.9, 16.0};
  d.pixel_half_length = 26.7;
  d.pixel_efficiency = 1.0;
  return d;
}

// One particle per event: pdg, charge, pT, eta, phi, vertex.
struct ParticleData {
  std::vector<std::int64_t> event;
  std::vector<double> px, py, pz, e, charge, vx, vy, vz, pt, eta, phi;
  std::vector<std::int32_t> pdg;

  void add(std::int64_t ev, std::int32_t id, double q, double pt_, double eta_, double phi_,
           double x = 0.0, double y = 0.0, double z = 0.0) {
    event.push_back(ev);
    pdg.push_back(id);
    charge.push_back(q);
    pt.push_back(pt_);
    eta.push_back(eta_);
    phi.push_back(phi_);
    px.push_back(pt_ * std::cos(phi_));
    py.push_back(pt_ * std::sin(phi_));
    pz.push_back(pt_ * std::sinh(eta_));
    e.push_back(pt_ * std::cosh(eta_));
    vx.push_back(x);
    vy.push_back(y);
    vz.push_back(z);
  }
  Particles view() const {
    Particles p;
    p.size = event.size();
    p.event = event.data();
    p.px = px.data();
    p.py = py.data();
    p.pz = pz.data();
    p.e = e.data();
    p.pdg = pdg.data();
    p.charge = charge.data();
    p.vx = vx.data();
    p.vy = vy.data();
    p.vz = vz.data();
    p.pt = pt.data();
    p.eta = eta.data();
    p.phi = phi.data();
    return p;
  }
};

}  // namespace

TEST_CASE("a chunk: photons in the ECAL, pions as tracks, pixel hits and showers") {
  ParticleData particles;
  for (std::int64_t ev = 0; ev < 20; ++ev) {
    particles.add(ev, 22, 0.0, 30.0, 0.4, 1.0);    // a photon
    particles.add(ev, 211, 1.0, 20.0, -0.6, -2.0);  // a charged pion
    particles.add(ev, 13, -1.0, 10.0, 2.0, 0.5);    // a forward muon: track, no calorimeter
  }
  // and a pion made 8 cm out (it misses the two inner pixel layers)
  particles.add(3, 211, -1.0, 5.0, 0.0, 1.5, 8.0, 0.0, 0.0);
  const DetectorParameters detector = quiet_detector();
  TestRandom rng(5);
  const Response response = simulate(particles.view(), 20, detector, rng);
  CHECK(response.tracks.counts[0] == 2);
  CHECK(response.tracks.counts[3] == 3);
  CHECK(response.tracks.pt.size() == 41);
  CHECK(response.tracks.particle[0] == 1);  // the pion comes first in its event
  // 4 layers for the pion, the 2 inner ones for the muon (z beyond the half length
  // further out), the 2 outer ones for the displaced pion
  CHECK(response.pixel_hits.counts[0] == 6);
  CHECK(response.pixel_hits.counts[3] == 8);
  for (std::size_t ev = 0; ev < 20; ++ev) {
    CHECK(response.hits.counts[ev] > 10);
  }
  const CaloHits& hits = response.hits;
  CHECK(std::all_of(hits.truth_fraction.begin(), hits.truth_fraction.end(),
                    [](float f) { return f == -1.0f || (f >= 0.0f && f <= 1.0f); }));
  CHECK(std::any_of(hits.subdet.begin(), hits.subdet.end(), [](std::int32_t s) { return s == 1; }));
}

TEST_CASE("the chunk refuses bad parameters and particles") {
  ParticleData particles;
  particles.add(0, 211, 1.0, 20.0, 0.1, 0.2);
  TestRandom rng(1);
  DetectorParameters detector = quiet_detector();
  detector.track_efficiency = 1.5;
  CHECK_THROWS_AS(simulate(particles.view(), 1, detector, rng), std::invalid_argument);
  detector = quiet_detector();
  detector.hcal_layers = {0.5, 0.5};
  CHECK_THROWS_AS(simulate(particles.view(), 1, detector, rng), std::invalid_argument);
  detector = quiet_detector();
  detector.ecal_layer_radii = {131.5, 140.0};
  CHECK_THROWS_AS(simulate(particles.view(), 1, detector, rng), std::invalid_argument);
  detector = quiet_detector();
  detector.hcal_layer_radii = {145.0, 235.0, 275.0};  // inside the ECAL's last layer
  CHECK_THROWS_AS(simulate(particles.view(), 1, detector, rng), std::invalid_argument);
  detector = quiet_detector();
  detector.pixel_radii = {};
  CHECK_THROWS_AS(simulate(particles.view(), 1, detector, rng), std::invalid_argument);
  detector = quiet_detector();
  CHECK_THROWS_AS(simulate(particles.view(), 0, detector, rng), std::out_of_range);
  particles.eta[0] = std::nan("");
  CHECK_THROWS_AS(simulate(particles.view(), 1, detector, rng), std::invalid_argument);
  Particles missing = particles.view();
  missing.vz = nullptr;
  CHECK_THROWS_AS(simulate(missing, 1, detector, rng), std::invalid_argument);
}

TEST_CASE("a displaced photon showers where its line from the vertex crosses each layer") {
  // made at (100, 0, 20) cm flying along +y (phi = pi / 2) with pz / pT = sinh(0.3): at layer
  // radius r it is at (100, sqrt(r^2 - 100^2), 20 + sqrt(r^2 - 100^2) sinh(0.3))
  constexpr double kHalfPi = 1.5707963267948966;
  ParticleData particles;
  particles.add(0, 22, 0.0, 50.0, 0.3, kHalfPi, 100.0, 0.0, 20.0);
  particles.add(1, 22, 0.0, 50.0, 0.3, kHalfPi);  // the same photon from the origin
  const DetectorParameters detector = quiet_detector();  // no noise, no threshold
  TestRandom rng(3);
  const Response response = simulate(particles.view(), 2, detector, rng);
  const CaloHits& hits = response.hits;
  for (std::int32_t layer = 0; layer < 3; ++layer) {
    const double r = detector.ecal_layer_radii[static_cast<std::size_t>(layer)];
    const double s = std::sqrt(r * r - 100.0 * 100.0);
    const double want_eta = std::asinh((20.0 + s * std::sinh(0.3)) / r);
    const double want_phi = std::atan2(s, 100.0);
    for (std::int64_t ev = 0; ev < 2; ++ev) {
      double energy = 0.0;
      double eta = 0.0;
      double phi = 0.0;
      std::size_t first = 0;
      for (std::int64_t e = 0; e < ev; ++e) {
        first += static_cast<std::size_t>(hits.counts[static_cast<std::size_t>(e)]);
      }
      for (std::size_t h = first; h < first + static_cast<std::size_t>(hits.counts[ev]); ++h) {
        if (hits.subdet[h] == 0 && hits.layer[h] == layer) {
          energy += hits.energy[h];
          eta += hits.energy[h] * hits.eta[h];
          phi += hits.energy[h] * hits.phi[h];
        }
      }
      REQUIRE(energy > 0.0);
      // within a third of a crystal (0.0174) of the crossing; from the origin at eta, phi
      CHECK(std::fabs(eta / energy - (ev == 0 ? want_eta : 0.3)) < 0.006);
      CHECK(std::fabs(phi / energy - (ev == 0 ? want_phi : kHalfPi)) < 0.006);
    }
  }
}
