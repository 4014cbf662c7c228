// The generator's parametric detector response (python/e2e_gnn/generate/detector.py documents
// the model): tracks, calorimeter cells with their truth fraction and pixel hits of a chunk
// of events, in one pass.
//
// Random numbers come from a RandomSource whose methods draw as numpy.random.Generator's
// methods do; the Python binding forwards them to NumPy's own C functions, so the response
// repeats the draws, and the arithmetic, of the former NumPy implementation
// (tests/generate/_detector_reference.py) operation by operation. That holds with the default
// x86-64 flags (no fused multiply-add); a build with -march flags that enable FMA needs
// -ffp-contract=off to keep the same sums.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace e2e_gnn::detector {

/// The normal cumulative distribution function, computed like scipy.special.ndtr (erf near
/// zero, erfc in the tails) with the C library's erf and erfc.
double ndtr(double x);
/// Its inverse for p in (0, 1) (-inf at 0, +inf at 1), to a few units in the last place.
double ndtri(double p);

/// NumPy's `phi % (2 pi)` and `(phi + pi) % (2 pi) - pi` (floor modulo), for any finite phi.
double phi_mod_2pi(double phi);
double wrap_phi(double phi);

/// The random numbers of the response. Each method draws like the numpy.random.Generator
/// method of the same name (one value; `integers`: n values in [0, high), high >= 1).
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual double random() = 0;
  virtual double normal(double loc, double scale) = 0;
  virtual double standard_normal() = 0;
  virtual double standard_gamma(double shape) = 0;
  virtual double gamma(double shape, double scale) = 0;
  virtual double beta(double a, double b) = 0;
  virtual std::int64_t poisson(double lam) = 0;
  virtual void integers(std::int64_t high, std::size_t n, std::int64_t* out) = 0;
};

/// One row of Generator.dirichlet(alpha): `alpha.size()` values into `out`, drawn as NumPy
/// does (normalised standard gammas; stick-breaking with betas when every alpha < 0.1).
/// Throws std::invalid_argument unless every alpha is finite and > 0.
void dirichlet(RandomSource& rng, const std::vector<double>& alpha, double* out);

/// One calorimeter's cell grid: ieta = floor(eta / cell_eta) in [ieta_min, ieta_max] and
/// iphi = floor((phi mod 2 pi) / (2 pi / n_phi)) in [0, n_phi), each cell read out in
/// n_layers depth layers. A cell of event e is numbered
/// (e * n_eta() + ieta - ieta_min) * n_phi + iphi.
struct CaloGrid {
  std::int32_t subdet = 0;
  double cell_eta = 0.0;
  std::int64_t n_phi = 0;
  std::int64_t ieta_min = 0;
  std::int64_t ieta_max = -1;
  std::int64_t n_layers = 0;
  /// Gaussian noise per cell and layer (GeV) and the readout threshold: a (cell, layer) is
  /// read out when its energy is above it.
  double noise = 0.0;
  double threshold = 0.0;
  /// P(noise > threshold) and P(noise < threshold) (0 and 1 without noise).
  double noise_tail = 0.0;
  double noise_below = 1.0;

  std::int64_t n_eta() const { return ieta_max - ieta_min + 1; }
  std::int64_t cells_per_event() const { return n_eta() * n_phi; }
  /// Throws std::invalid_argument for a non-positive or non-finite cell size, an empty grid or
  /// more than 2^24 cells per event, no layers, or a negative or non-finite noise, threshold
  /// or probability.
  void validate() const;
};

/// The showers entering one calorimeter, one per particle; every array has `size` entries
/// (`layers`: size x n_layers, row-major).
struct Showers {
  std::size_t size = 0;
  const std::int64_t* event = nullptr;
  /// Energy deposited (GeV, > 0).
  const double* energy = nullptr;
  /// Impact point; phi may take any finite value (it is folded into [0, 2 pi)).
  const double* eta = nullptr;
  const double* phi = nullptr;
  /// Fraction of the energy in each depth layer.
  const double* layers = nullptr;
  /// Lateral Gaussian width, in cells (0: the impact cell takes everything; at most 100).
  const double* sigma = nullptr;
  /// Index of the particle's reconstructed track, -1 when it has none.
  const std::int64_t* track = nullptr;
};

/// Showers held in vectors (columns as in Showers).
struct ShowerColumns {
  std::vector<std::int64_t> event;
  std::vector<double> energy;
  std::vector<double> eta;
  std::vector<double> phi;
  std::vector<double> layers;
  std::vector<double> sigma;
  std::vector<std::int64_t> track;

  Showers view() const;
};

/// Noise-free energy deposits of a chunk of events in one calorimeter.
///
/// Each shower's energy is shared over a window of 2 round(2 sigma) + 1 cells in eta and in phi
/// around its impact cell: the Gaussian of width sigma (cells) integrated over each cell of
/// the window and renormalised to 1 over the window (per axis), then split over the layers.
/// Cells outside the eta range keep nothing (that energy is lost); phi wraps around. Per
/// cell, deposits are summed in the order of the former NumPy implementation (by increasing
/// sigma, then particle, then window cell), so the sums are the same to the last bit.
class CaloDeposits {
 public:
  /// Throws std::invalid_argument for a bad grid or shower (non-finite values, a non-positive
  /// energy, an impact point too far out to be numbered, a width outside [0, 100] cells) and
  /// std::out_of_range for an event outside [0, n_events) or a track outside [-1, n_tracks).
  CaloDeposits(const CaloGrid& grid, const Showers& showers, std::int64_t n_events,
               std::int64_t n_tracks);

  const CaloGrid& grid() const { return grid_; }
  std::int64_t n_events() const { return n_events_; }
  /// Occupied cells, increasing; those of event e are [event_begin()[e], event_begin()[e + 1]).
  const std::vector<std::int64_t>& cells() const { return cells_; }
  const std::vector<std::int64_t>& event_begin() const { return event_begin_; }
  /// ieta and iphi of each occupied cell.
  const std::vector<std::int32_t>& cell_ieta() const { return cell_ieta_; }
  const std::vector<std::int32_t>& cell_iphi() const { return cell_iphi_; }
  /// Noise-free energy per occupied cell and layer, [cells().size(), n_layers].
  const std::vector<double>& energy() const { return energy_; }
  /// Energy that the particle of `track` left in occupied cell `cell` (index into cells()),
  /// `layer`; 0 when it left nothing there. Throws std::out_of_range for a bad cell or layer.
  double track_energy(std::size_t cell, std::int64_t track, std::int64_t layer) const;

 private:
  CaloGrid grid_;
  std::int64_t n_events_ = 0;
  std::vector<std::int64_t> cells_;
  std::vector<std::int64_t> event_begin_;
  std::vector<std::int32_t> cell_ieta_;
  std::vector<std::int32_t> cell_iphi_;
  std::vector<double> energy_;
  // tracks of occupied cell c: track_[track_begin_[c] .. track_begin_[c + 1]), increasing,
  // with their energies per layer in track_energy_ ([track_.size(), n_layers])
  std::vector<std::int64_t> track_begin_;
  std::vector<std::int64_t> track_;
  std::vector<double> track_energy_;
};

/// The noise of one calorimeter: Gaussian noise of every occupied (cell, layer) in order, then
/// noise-only readouts of free cells (cell number as in CaloGrid, layer, energy).
struct CaloNoise {
  std::vector<double> cell_noise;
  std::vector<std::int64_t> cell;
  std::vector<std::int64_t> layer;
  std::vector<double> energy;
};

/// Draws the noise of `deposits`: normal(0, noise) per occupied (cell, layer); then a Poisson
/// number (mean: cells x layers x noise_tail) of uniform (cell, layer) draws over the grid,
/// those in free cells kept (they may repeat), with energies from the Gaussian tail above
/// the threshold.
CaloNoise draw_noise(const CaloDeposits& deposits, RandomSource& rng);

/// Reconstructed tracks as (event, eta, phi); events never decrease. `index` numbers them as
/// the deposits do (nullptr: 0, 1, ...), increasing.
struct TrackView {
  std::size_t size = 0;
  const std::int64_t* event = nullptr;
  const float* eta = nullptr;
  const float* phi = nullptr;
  const std::int64_t* index = nullptr;
};

/// Finds the closest track of an event in (eta, phi): distance sqrt(deta^2 + dphi^2) in double
/// precision, dphi folded onto [0, pi], strictly below `radius`; ties go to the lower track index.
class NearestTrack {
 public:
  /// Throws std::invalid_argument for a negative or non-finite radius, a non-finite track
  /// coordinate or decreasing track events, std::out_of_range for a track event outside
  /// [0, n_events).
  NearestTrack(const TrackView& tracks, std::int64_t n_events, double radius);
  /// The track index, or -1 when no track of `event` lies within the radius. Throws
  /// std::out_of_range for an event outside [0, n_events).
  std::int64_t find(std::int64_t event, double eta, double phi) const;

 private:
  struct Entry {
    double eta;
    double phi;
    double folded;  // phi in [0, 2 pi)
    std::int64_t index;
  };
  // eta bin of an eta: -1 below, n_bins_ above the tracks' range
  std::int64_t eta_bin(double eta) const;

  double radius_;
  std::int64_t n_events_;
  // tracks binned per event in eta bins of eta_width_ >= radius from eta_lo_; those of bin b
  // of event e are entries_[begin_[e * n_bins_ + b] .. begin_[e * n_bins_ + b + 1]), by phi
  double eta_lo_ = 0.0;
  double eta_width_ = 1.0;
  std::int64_t n_bins_ = 0;
  std::vector<std::int64_t> begin_;
  std::vector<Entry> entries_;
};

/// The azimuth by which a particle of charge `charge` (e) and transverse momentum `pt` (GeV)
/// has turned in the solenoid field `field_t` (T) when it reaches the radius `radius_m` (m):
/// sign(charge) asin(0.3 B R / (2 pT)), to subtract from its vertex phi. 0 for a neutral
/// particle; NaN when a charged one loops before R (0.3 B R / (2 pT) >= 1). The response bends
/// every calorimeter deposit of a particle by its bend at the calorimeter front.
double phi_bend(double charge, double pt, double field_t, double radius_m);

/// Where a reconstructed track reaches the calorimeter front (radius `radius_m`, m), as the
/// response places the deposits of its particle: the straight line with the track's direction
/// through its point of closest approach to the beam line, (-d0 sin phi, d0 cos phi, dz) (cm),
/// crosses that radius at (eta, phi) seen from the origin, and phi is bent by phi_bend (then
/// wrapped into [-pi, pi)). False, the outputs untouched, when the track never gets there: it
/// loops before (phi_bend is NaN), pt <= 0 or |d0| >= R. Throws std::invalid_argument for a
/// non-finite argument.
bool calorimeter_impact(double pt, double eta, double phi, double charge, double d0, double dz,
                        double field_t, double radius_m, double& impact_eta, double& impact_phi);

/// Calorimeter hits of a chunk of events, grouped by event: `counts` hits per event.
struct CaloHits {
  std::vector<std::int64_t> counts;
  std::vector<float> eta;
  std::vector<float> phi;
  std::vector<float> energy;
  std::vector<std::int32_t> subdet;
  std::vector<std::int32_t> layer;
  std::vector<std::int32_t> ieta;
  std::vector<std::int32_t> iphi;
  /// Share of the cell's noise-free energy (in its layer) left by the particle of the closest
  /// track within the truth radius (simulate places each track at its calorimeter_impact); 0
  /// if that particle left nothing there (noise-only cells), -1 if no track is that close.
  std::vector<float> truth_fraction;
};

struct CaloReadout {
  const CaloDeposits* deposits = nullptr;
  const CaloNoise* noise = nullptr;
};

/// Reads out calorimeters (for the same events): the (cell, layer) pairs measured above their
/// grid's threshold, in each event the calorimeters in order, each with its occupied cells by
/// increasing cell number and layer, then its noise-only cells in their given order. Cell eta
/// and phi are cell centres (phi in [-pi, pi)). Throws std::invalid_argument for no
/// calorimeter, a missing one, noise of the wrong size or different event counts,
/// std::out_of_range for a noise-only cell or layer outside the grid, and what NearestTrack
/// throws.
CaloHits calorimeter_hits(const std::vector<CaloReadout>& parts, const TrackView& tracks,
                          double truth_radius);

/// Particles of a chunk of events (`size` entries per array): event index (grouped or not),
/// momentum and energy (GeV), PDG id, charge (e), production vertex (cm), and pT, eta, phi.
struct Particles {
  std::size_t size = 0;
  const std::int64_t* event = nullptr;
  const double* px = nullptr;
  const double* py = nullptr;
  const double* pz = nullptr;
  const double* e = nullptr;
  const std::int32_t* pdg = nullptr;
  const double* charge = nullptr;
  const double* vx = nullptr;
  const double* vy = nullptr;
  const double* vz = nullptr;
  const double* pt = nullptr;
  const double* eta = nullptr;
  const double* phi = nullptr;
};

/// The parameters of the response: python/e2e_gnn/generate/detector.py's DetectorConfig
/// (same names and meanings) with its calorimeter grids.
struct DetectorParameters {
  double barrel_eta_max = 0.0;
  double magnetic_field_t = 0.0;
  double calo_radius_m = 0.0;
  CaloGrid ecal;
  CaloGrid hcal;
  double ecal_stochastic = 0.0;
  double ecal_constant = 0.0;
  double hcal_stochastic = 0.0;
  double hcal_constant = 0.0;
  std::vector<double> ecal_em_layers;
  std::vector<double> ecal_hadron_layers;
  std::vector<double> hcal_layers;
  /// Radii (cm) where the showers cross each ECAL and HCAL depth layer, increasing from the
  /// first ECAL to the last HCAL layer: a particle made away from the origin deposits in each
  /// layer where its straight line from the vertex crosses that radius.
  std::vector<double> ecal_layer_radii;
  std::vector<double> hcal_layer_radii;
  double layer_concentration = 0.0;
  double hadron_ecal_fraction = 0.0;
  double hadron_ecal_concentration = 0.0;
  double ecal_em_spread = 0.0;
  double ecal_hadron_spread = 0.0;
  double hcal_spread = 0.0;
  double muon_ecal = 0.0;
  double muon_hcal = 0.0;
  double spread_min_energy = 0.0;
  double truth_radius = 0.0;
  double track_pt_min = 0.0;
  double track_eta_max = 0.0;
  double track_efficiency = 1.0;
  double track_max_vertex_radius = 0.0;
  double track_pt_resolution = 0.0;
  double track_pt_resolution_slope = 0.0;
  double track_angle_resolution = 0.0;
  double track_d0_resolution = 0.0;
  double track_d0_resolution_ms = 0.0;
  double track_dz_resolution = 0.0;
  double track_dz_resolution_ms = 0.0;
  std::vector<double> pixel_radii;
  double pixel_half_length = 0.0;
  double pixel_efficiency = 1.0;

  /// Throws std::invalid_argument for a negative or non-finite parameter, a probability above
  /// 1, depth profiles or layer radii that are not positive or whose layer counts differ from
  /// their grids', layer radii that do not increase, or a bad grid.
  void validate() const;
};

/// Smeared tracks of a chunk of events, grouped by event (`counts` per event), with the index
/// of each one's particle.
struct Tracks {
  std::vector<std::int64_t> counts;
  std::vector<float> pt;
  std::vector<float> eta;
  std::vector<float> phi;
  std::vector<float> d0;
  std::vector<float> dz;
  std::vector<std::int32_t> charge;
  std::vector<std::int64_t> particle;
};

/// Pixel hits of a chunk of events, grouped by event: `counts` hits per event.
struct PixelHits {
  std::vector<std::int64_t> counts;
  std::vector<float> eta;
  std::vector<float> phi;
  std::vector<std::int32_t> layer;
};

struct Response {
  CaloHits hits;
  Tracks tracks;
  PixelHits pixel_hits;
};

/// The detector response of a chunk of `n_events` events: tracks, then calorimeter hits, then
/// pixel hits, drawing from `rng` in that order. Throws std::invalid_argument for bad
/// parameters, a missing array or non-finite kinematics, std::out_of_range for an event
/// outside [0, n_events).
Response simulate(const Particles& particles, std::int64_t n_events,
                  const DetectorParameters& parameters, RandomSource& rng);

}  // namespace e2e_gnn::detector
