// Binding of the generator's detector response: e2e_gnn._native.detector_response (used by
// python/e2e_gnn/generate/detector.py).
//
// The random numbers come from the caller's numpy.random.Generator through NumPy's own C
// distribution functions, which numpy.random._generator exports for C and cffi users
// (numpy/random/_examples/cffi): a chunk draws exactly what the Generator methods would.
#include <dlfcn.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "e2e_gnn/detector.hpp"
#include "numpy_views.hpp"
#include "register.hpp"

namespace py = pybind11;
namespace det = e2e_gnn::detector;

namespace {

// numpy/random/bitgen.h (a stable C ABI).
struct BitGenerator {
  void* state;
  std::uint64_t (*next_uint64)(void* state);
  std::uint32_t (*next_uint32)(void* state);
  double (*next_double)(void* state);
  std::uint64_t (*next_raw)(void* state);
};

// The functions of numpy/random/distributions.h used here, looked up once.
struct Distributions {
  double (*random)(BitGenerator*);
  double (*normal)(BitGenerator*, double, double);
  double (*standard_normal)(BitGenerator*);
  double (*standard_gamma)(BitGenerator*, double);
  double (*gamma)(BitGenerator*, double, double);
  double (*beta)(BitGenerator*, double, double);
  std::int64_t (*poisson)(BitGenerator*, double);
  void (*bounded_uint64_fill)(BitGenerator*, std::uint64_t, std::uint64_t, std::intptr_t, bool,
                              std::uint64_t*);
};

template <class F>
void lookup(void* library, const char* name, F& function) {
  void* symbol = dlsym(library, name);
  if (symbol == nullptr) {
    throw std::runtime_error(std::string("numpy.random._generator does not export ") + name +
                             ": this NumPy is not supported by the detector response");
  }
  function = reinterpret_cast<F>(symbol);
}

const Distributions& distributions() {
  static const Distributions functions = [] {
    const std::string path =
        py::module_::import("numpy.random._generator").attr("__file__").cast<std::string>();
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (library == nullptr) {
      throw std::runtime_error("cannot open " + path + ": " + dlerror());
    }
    Distributions f{};
    lookup(library, "random_standard_uniform", f.random);
    lookup(library, "random_normal", f.normal);
    lookup(library, "random_standard_normal", f.standard_normal);
    lookup(library, "random_standard_gamma", f.standard_gamma);
    lookup(library, "random_gamma", f.gamma);
    lookup(library, "random_beta", f.beta);
    lookup(library, "random_poisson", f.poisson);
    lookup(library, "random_bounded_uint64_fill", f.bounded_uint64_fill);
    return f;
  }();
  return functions;
}

// A numpy.random.Generator's bit generator, drawn as its methods draw (the caller holds its
// lock). Bad parameters throw, as the Generator methods refuse them.
class NumpyRandom final : public det::RandomSource {
 public:
  explicit NumpyRandom(BitGenerator* bitgen) : f_(distributions()), bitgen_(bitgen) {}

  double random() override { return f_.random(bitgen_); }
  double normal(double loc, double scale) override {
    check(scale >= 0.0, "normal scale");
    return f_.normal(bitgen_, loc, scale);
  }
  double standard_normal() override { return f_.standard_normal(bitgen_); }
  double standard_gamma(double shape) override {
    check(shape >= 0.0, "gamma shape");
    return f_.standard_gamma(bitgen_, shape);
  }
  double gamma(double shape, double scale) override {
    check(shape >= 0.0 && scale >= 0.0, "gamma shape and scale");
    return f_.gamma(bitgen_, shape, scale);
  }
  double beta(double a, double b) override {
    check(a > 0.0 && b > 0.0, "beta parameters");
    return f_.beta(bitgen_, a, b);
  }
  std::int64_t poisson(double lam) override {
    check(lam >= 0.0 && lam < 1e18, "poisson mean");
    return f_.poisson(bitgen_, lam);
  }
  void integers(std::int64_t high, std::size_t n, std::int64_t* out) override {
    check(high >= 1, "integers high");
    static_assert(sizeof(std::int64_t) == sizeof(std::uint64_t));
    f_.bounded_uint64_fill(bitgen_, 0, static_cast<std::uint64_t>(high - 1),
                           static_cast<std::intptr_t>(n), false,
                           reinterpret_cast<std::uint64_t*>(out));
  }

 private:
  static void check(bool ok, const char* what) {
    if (!ok) {
      throw std::invalid_argument(std::string("detector response: invalid ") + what);
    }
  }

  const Distributions& f_;
  BitGenerator* bitgen_;
};

// A C-contiguous 1-D array of exactly dtype T (no silent casts: a cast would change the
// arithmetic), `rows` long unless rows < 0.
template <class T>
py::array_t<T> column(const py::dict& columns, const char* name, py::ssize_t rows) {
  if (!columns.contains(name)) {
    throw py::key_error(std::string("particles: missing column '") + name + "'");
  }
  const py::object value = columns[name];
  if (!py::isinstance<py::array>(value)) {
    throw py::type_error(std::string("particles['") + name + "'] must be a NumPy array");
  }
  const auto array = py::reinterpret_borrow<py::array>(value);
  if (!e2e_gnn::python::is_dtype<T>(array.dtype()) || array.ndim() != 1 ||
      !(array.flags() & py::array::c_style)) {
    throw py::type_error(std::string("particles['") + name + "'] must be a C-contiguous 1-D " +
                         std::string(py::str(py::dtype::of<T>())) + " array, got " +
                         std::string(py::str(array.dtype())) + " with " +
                         std::to_string(array.ndim()) + " dimension(s)");
  }
  if (rows >= 0 && array.shape(0) != rows) {
    throw py::value_error(std::string("particles['") + name + "'] has " +
                          std::to_string(array.shape(0)) + " entries, 'event' has " +
                          std::to_string(rows));
  }
  return py::array_t<T>(array);
}

double number(const py::dict& config, const char* name) {
  if (!config.contains(name)) {
    throw py::key_error(std::string("config: missing '") + name + "'");
  }
  return config[name].cast<double>();
}

std::vector<double> numbers(const py::dict& config, const char* name) {
  if (!config.contains(name)) {
    throw py::key_error(std::string("config: missing '") + name + "'");
  }
  std::vector<double> out;
  for (const py::handle item : py::reinterpret_borrow<py::iterable>(config[name])) {
    out.push_back(item.cast<double>());
  }
  return out;
}

det::CaloGrid grid(const py::dict& config, const std::string& name, std::int32_t subdet,
                   std::int64_t n_layers) {
  const auto key = [&](const char* field) { return name + "_" + field; };
  det::CaloGrid g;
  g.subdet = subdet;
  g.cell_eta = number(config, key("cell_eta").c_str());
  g.n_phi = static_cast<std::int64_t>(number(config, key("n_phi").c_str()));
  g.ieta_min = static_cast<std::int64_t>(number(config, key("ieta_min").c_str()));
  g.ieta_max = static_cast<std::int64_t>(number(config, key("ieta_max").c_str()));
  g.n_layers = n_layers;
  g.noise = number(config, key("noise").c_str());
  g.threshold = number(config, key("threshold").c_str());
  g.noise_tail = number(config, key("noise_tail").c_str());
  g.noise_below = number(config, key("noise_below").c_str());
  return g;
}

det::DetectorParameters parameters(const py::dict& c) {
  det::DetectorParameters d;
  d.barrel_eta_max = number(c, "barrel_eta_max");
  d.magnetic_field_t = number(c, "magnetic_field_t");
  d.calo_radius_m = number(c, "calo_radius_m");
  d.ecal_stochastic = number(c, "ecal_stochastic");
  d.ecal_constant = number(c, "ecal_constant");
  d.hcal_stochastic = number(c, "hcal_stochastic");
  d.hcal_constant = number(c, "hcal_constant");
  d.ecal_em_layers = numbers(c, "ecal_em_layers");
  d.ecal_hadron_layers = numbers(c, "ecal_hadron_layers");
  d.hcal_layers = numbers(c, "hcal_layers");
  d.ecal = grid(c, "ecal", 0, static_cast<std::int64_t>(d.ecal_em_layers.size()));
  d.hcal = grid(c, "hcal", 1, static_cast<std::int64_t>(d.hcal_layers.size()));
  d.ecal_layer_radii = numbers(c, "ecal_layer_radii");
  d.hcal_layer_radii = numbers(c, "hcal_layer_radii");
  d.layer_concentration = number(c, "layer_concentration");
  d.hadron_ecal_fraction = number(c, "hadron_ecal_fraction");
  d.hadron_ecal_concentration = number(c, "hadron_ecal_concentration");
  d.ecal_em_spread = number(c, "ecal_em_spread");
  d.ecal_hadron_spread = number(c, "ecal_hadron_spread");
  d.hcal_spread = number(c, "hcal_spread");
  d.muon_ecal = number(c, "muon_ecal");
  d.muon_hcal = number(c, "muon_hcal");
  d.spread_min_energy = number(c, "spread_min_energy");
  d.truth_radius = number(c, "truth_radius");
  d.track_pt_min = number(c, "track_pt_min");
  d.track_eta_max = number(c, "track_eta_max");
  d.track_efficiency = number(c, "track_efficiency");
  d.track_max_vertex_radius = number(c, "track_max_vertex_radius");
  d.track_pt_resolution = number(c, "track_pt_resolution");
  d.track_pt_resolution_slope = number(c, "track_pt_resolution_slope");
  d.track_angle_resolution = number(c, "track_angle_resolution");
  d.track_d0_resolution = number(c, "track_d0_resolution");
  d.track_d0_resolution_ms = number(c, "track_d0_resolution_ms");
  d.track_dz_resolution = number(c, "track_dz_resolution");
  d.track_dz_resolution_ms = number(c, "track_dz_resolution_ms");
  d.pixel_radii = numbers(c, "pixel_radii");
  d.pixel_half_length = number(c, "pixel_half_length");
  d.pixel_efficiency = number(c, "pixel_efficiency");
  d.validate();
  return d;
}

// Moves a vector into a NumPy array that owns it.
template <class T>
py::array_t<T> owned(std::vector<T>&& values) {
  auto* heap = new std::vector<T>(std::move(values));
  const py::capsule release(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(static_cast<py::ssize_t>(heap->size()), heap->data(), release);
}

BitGenerator* bit_generator_of(const py::object& rng) {
  const py::object generator_type = py::module_::import("numpy.random").attr("Generator");
  if (!py::isinstance(rng, generator_type)) {
    throw py::type_error("rng must be a numpy.random.Generator, got " +
                         std::string(py::str(py::type::of(rng))));
  }
  const py::capsule capsule = rng.attr("bit_generator").attr("capsule");
  auto* bitgen = static_cast<BitGenerator*>(PyCapsule_GetPointer(capsule.ptr(), "BitGenerator"));
  if (bitgen == nullptr) {
    throw py::error_already_set();
  }
  return bitgen;
}

py::tuple detector_response(const py::dict& columns, std::int64_t n_events,
                            const py::dict& config, const py::object& rng) {
  const auto event = column<std::int64_t>(columns, "event", -1);
  const py::ssize_t n = event.shape(0);
  std::vector<py::array_t<double>> keep;
  const auto get = [&](const char* name) {
    keep.push_back(column<double>(columns, name, n));
    return keep.back().data();
  };
  const auto pdg = column<std::int32_t>(columns, "pdg", n);
  det::Particles particles;
  particles.size = static_cast<std::size_t>(n);
  particles.event = event.data();
  particles.px = get("px");
  particles.py = get("py");
  particles.pz = get("pz");
  particles.e = get("e");
  particles.pdg = pdg.data();
  particles.charge = get("charge");
  particles.vx = get("vx");
  particles.vy = get("vy");
  particles.vz = get("vz");
  particles.pt = get("pt");
  particles.eta = get("eta");
  particles.phi = get("phi");
  const det::DetectorParameters detector = parameters(config);
  NumpyRandom random(bit_generator_of(rng));
  // as the Generator methods do: hold the bit generator's lock, not the GIL
  const py::object lock = rng.attr("bit_generator").attr("lock");
  det::Response response;
  lock.attr("acquire")();
  try {
    py::gil_scoped_release release;
    response = det::simulate(particles, n_events, detector, random);
  } catch (...) {
    lock.attr("release")();
    throw;
  }
  lock.attr("release")();

  det::CaloHits& h = response.hits;
  py::dict hits;
  hits["eta"] = owned(std::move(h.eta));
  hits["phi"] = owned(std::move(h.phi));
  hits["energy"] = owned(std::move(h.energy));
  hits["subdet"] = owned(std::move(h.subdet));
  hits["layer"] = owned(std::move(h.layer));
  hits["ieta"] = owned(std::move(h.ieta));
  hits["iphi"] = owned(std::move(h.iphi));
  hits["truth_fraction"] = owned(std::move(h.truth_fraction));
  det::Tracks& t = response.tracks;
  py::dict tracks;
  tracks["pt"] = owned(std::move(t.pt));
  tracks["eta"] = owned(std::move(t.eta));
  tracks["phi"] = owned(std::move(t.phi));
  tracks["d0"] = owned(std::move(t.d0));
  tracks["dz"] = owned(std::move(t.dz));
  tracks["charge"] = owned(std::move(t.charge));
  det::PixelHits& p = response.pixel_hits;
  py::dict pixels;
  pixels["eta"] = owned(std::move(p.eta));
  pixels["phi"] = owned(std::move(p.phi));
  pixels["layer"] = owned(std::move(p.layer));
  return py::make_tuple(py::make_tuple(owned(std::move(h.counts)), hits),
                        py::make_tuple(owned(std::move(t.counts)), tracks),
                        py::make_tuple(owned(std::move(p.counts)), pixels));
}

using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

// det::calorimeter_impact of every track: (eta, phi) float64, NaN where a track never reaches
// the calorimeter.
py::tuple calorimeter_impact(const py::dict& tracks, double field_t, double radius_m) {
  static constexpr std::array<const char*, 6> kNames{"pt", "eta", "phi", "charge", "d0", "dz"};
  std::vector<DoubleArray> columns;
  for (const char* name : kNames) {
    if (!tracks.contains(name)) {
      throw py::key_error(std::string("calorimeter_impact: tracks have no column '") + name + "'");
    }
    columns.push_back(DoubleArray::ensure(tracks[name]));
    if (!columns.back() || columns.back().ndim() != 1 ||
        columns.back().shape(0) != columns.front().shape(0)) {
      throw py::value_error(std::string("calorimeter_impact: tracks['") + name +
                            "'] must be a 1-D array of numbers as long as tracks['pt']");
    }
  }
  const py::ssize_t n = columns.front().shape(0);
  std::vector<double> eta(static_cast<std::size_t>(n), std::numeric_limits<double>::quiet_NaN());
  std::vector<double> phi(eta);
  std::array<const double*, 6> in{};
  for (std::size_t c = 0; c < in.size(); ++c) {
    in[c] = columns[c].data();
  }
  {
    py::gil_scoped_release release;
    for (py::ssize_t i = 0; i < n; ++i) {
      const auto k = static_cast<std::size_t>(i);
      try {
        det::calorimeter_impact(in[0][i], in[1][i], in[2][i], in[3][i], in[4][i], in[5][i],
                                field_t, radius_m, eta[k], phi[k]);
      } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(std::string(error.what()) + " (track " + std::to_string(i) +
                                    ")");
      }
    }
  }
  return py::make_tuple(owned(std::move(eta)), owned(std::move(phi)));
}

}  // namespace

void register_detector(py::module_& m) {
  m.def("calorimeter_impact", &calorimeter_impact, py::arg("tracks"), py::arg("field_t"),
        py::arg("radius_m"),
        "Where each track (columns pt, eta, phi, charge, d0, dz) reaches the calorimeter front "
        "at radius_m in the field field_t, as the detector response places its particle's "
        "deposits: (eta, phi) float64 arrays, NaN for tracks that never get there.");
  m.def("detector_response", &detector_response, py::arg("particles"), py::arg("n_events"),
        py::arg("config"), py::arg("rng"),
        "The generator's detector response of a chunk of events: ((counts, hit columns), "
        "(counts, track columns), (counts, pixel-hit columns)), drawing from rng.");
}
