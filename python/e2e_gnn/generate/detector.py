"""A parametric detector response: particles -> calorimeter cells, tracks, pixel hits.

The detector is a CMS-like barrel: a crystal ECAL and a 5x coarser HCAL, each read out
in three depth layers (as the layered images of the ATLAS calorimeter studies), a
silicon tracker that measures charged particles with pT, angle and impact-parameter
resolutions, and four barrel pixel layers. Every parameter lives in one
:class:`DetectorConfig`; ``docs/generator.md`` tabulates them.

The response of a chunk of events is computed in one C++ call
(``e2e_gnn._native.detector_response``, ``cpp/detector/src/detector.cpp``). Its random numbers
come from the caller's ``numpy.random.Generator``, through NumPy's own C distribution
functions, and its arithmetic repeats the former NumPy implementation operation by
operation (``tests/generate/_detector_reference.py`` keeps that NumPy version, and the
tests compare the two), so a seed gives the same sample as before.

Calorimeter model, per particle reaching the barrel (|eta| < ``barrel_eta_max``;
charged particles need pT above the looper limit 0.3 B R / 2 and are bent in phi by
asin(0.3 B R / (2 pT))):

- photons and electrons deposit all their energy in the ECAL; hadrons share it between
  ECAL and HCAL with an ECAL fraction drawn from a Beta distribution; muons leave fixed
  minimum-ionising deposits; neutrinos are not seen (they never reach this module);
- a particle made at the origin deposits all depth layers at its own eta, phi; one made
  elsewhere deposits each layer's share where its straight line from the vertex crosses
  that layer's radius (``ecal_layer_radii``, ``hcal_layer_radii``; eta, phi of that point
  seen from the origin), nothing in layers behind its vertex, and a photon or electron
  made beyond the last ECAL layer showers in the HCAL;
- each calorimeter part is smeared with sigma/E = stochastic/sqrt(E) (+) constant
  (Gamma-distributed: unbiased and positive);
- the energy is split over the depth layers with a Dirichlet-fluctuating longitudinal
  profile and spread laterally over neighbouring cells with a Gaussian profile
  (integrated exactly over each cell and renormalised over a window of cells, so the
  deposited energy is conserved except where the window leaves the barrel);
- each hit cell gets Gaussian electronic noise, cells below threshold are dropped, and
  noise-only cells above threshold are added with the exact Gaussian-tail rate;
- ``truth_fraction``: the share of the cell's noise-free energy (per layer) from the
  particle of the reconstructed track closest to the cell in eta-phi, 0 if that track left
  nothing there, -1 if no track lies within ``truth_radius``. A track's position is where
  it reaches the calorimeter (:func:`calorimeter_impact` of the track as written), not its
  direction at the vertex: in 3.8 T a 3 GeV track lands 0.25 rad away from it; tracks that
  loop before the calorimeter own no cell.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

import awkward as ak
import numpy as np
from scipy.special import ndtr

from e2e_gnn._native_loader import load_native

from .collection import Collection
from .truth import kinematics

__all__ = [
    "DetectorConfig",
    "DetectorResponse",
    "calorimeter_impact",
    "flatten_particles",
    "simulate",
]


@dataclass(frozen=True)
class DetectorConfig:
    """All parameters of the parametric detector response.

    Lengths in cm unless the name says otherwise, energies in GeV, resolutions as
    fractions (sigma/E) or in the unit of the quantity. Layer fraction tuples give the
    mean fraction of a sub-detector's energy in each depth layer (front to back) and
    must sum to 1; their length is the number of layers (3 in the generator schema).
    """

    barrel_eta_max: float = 1.479
    """|eta| acceptance of the barrel calorimeter."""
    ecal_cell_eta: float = 0.0174
    """ECAL cell size in eta (a crystal); ieta = floor(eta / size)."""
    ecal_n_phi: int = 360
    """ECAL cells in phi (2 pi / 360 = 0.01745)."""
    hcal_cell_eta: float = 0.087
    """HCAL cell size in eta (5 ECAL crystals)."""
    hcal_n_phi: int = 72
    """HCAL cells in phi (2 pi / 72 = 0.0873)."""
    magnetic_field_t: float = 3.8
    """Solenoid field (T): bends charged particles and sets the looper limit."""
    calo_radius_m: float = 1.29
    """Radius of the ECAL front face (m), where the track bending is evaluated."""

    ecal_stochastic: float = 0.028
    """ECAL stochastic term a in sigma/E = a / sqrt(E) (+) c."""
    ecal_constant: float = 0.003
    """ECAL constant term c."""
    ecal_noise: float = 0.025
    """Gaussian noise per ECAL cell and layer (GeV)."""
    ecal_threshold: float = 0.1
    """ECAL cells at or below this energy (GeV) are not read out (4 sigma of the noise)."""
    hcal_stochastic: float = 1.0
    """HCAL stochastic term (100 %/sqrt(E))."""
    hcal_constant: float = 0.05
    """HCAL constant term."""
    hcal_noise: float = 0.1
    """Gaussian noise per HCAL cell and layer (GeV)."""
    hcal_threshold: float = 0.4
    """HCAL zero-suppression threshold (GeV, 4 sigma of the noise)."""

    ecal_em_layers: tuple[float, ...] = (0.25, 0.60, 0.15)
    """Mean depth profile of electromagnetic showers in the ECAL layers."""
    ecal_hadron_layers: tuple[float, ...] = (0.30, 0.40, 0.30)
    """Mean depth profile of the ECAL part of hadron showers."""
    hcal_layers: tuple[float, ...] = (0.45, 0.35, 0.20)
    """Mean depth profile of hadron showers in the HCAL layers."""
    ecal_layer_radii: tuple[float, ...] = (131.5, 140.0, 149.0)
    """Radius (cm) where showers cross each ECAL depth layer (the 23 cm crystals from the
    front face at 129 cm, split as the EM depth profile). A particle made away from the
    origin deposits each layer's share where its straight line from the vertex crosses
    that radius; a particle made at the origin deposits all layers at its own eta, phi."""
    hcal_layer_radii: tuple[float, ...] = (195.0, 235.0, 275.0)
    """Radius (cm) where showers cross each HCAL depth layer (CMS HCAL barrel: 177-295 cm)."""
    layer_concentration: float = 30.0
    """Dirichlet concentration of the depth profiles: larger means smaller fluctuations."""
    hadron_ecal_fraction: float = 0.3
    """Mean fraction of a hadron's energy deposited in the ECAL."""
    hadron_ecal_concentration: float = 4.0
    """Beta concentration of that fraction (Beta(k m, k (1 - m)))."""
    ecal_em_spread: float = 0.5
    """Lateral Gaussian sigma of electromagnetic showers, in ECAL cells."""
    ecal_hadron_spread: float = 0.7
    """Lateral sigma of the ECAL part of hadron showers, in ECAL cells."""
    hcal_spread: float = 0.4
    """Lateral sigma of hadron showers, in HCAL cells."""
    muon_ecal: float = 0.3
    """Energy (GeV) a muon leaves in the ECAL (minimum ionising)."""
    muon_hcal: float = 2.0
    """Energy (GeV) a muon leaves in the HCAL."""
    spread_min_energy: float = 1.0
    """Below this energy (GeV, per sub-detector share) a particle fills its impact cell
    only, with the mean depth profile: its neighbours and its depth fluctuations would
    stay below the noise thresholds anyway. Halves the work of the calorimeter response
    in events with multiparton interactions."""

    truth_radius: float = 0.2
    """``Hit_truth_fraction`` refers to the closest track within this eta-phi distance
    of the cell (JetPointNet's dR < 0.2); cells with no track that close get -1."""

    track_pt_min: float = 0.5
    """Charged particles below this pT (GeV) are not reconstructed as tracks."""
    track_eta_max: float = 2.5
    """|eta| acceptance of the tracker."""
    track_efficiency: float = 0.95
    """Probability that a charged particle in acceptance becomes a track."""
    track_max_vertex_radius: float = 50.0
    """Particles produced farther from the beam (cm) are not reconstructed as tracks."""
    track_pt_resolution: float = 0.008
    """sigma(pT)/pT = a (+) b pT: the constant (multiple scattering) term a."""
    track_pt_resolution_slope: float = 1.5e-4
    """... and the curvature term b (1/GeV)."""
    track_angle_resolution: float = 0.001
    """Gaussian smearing of track eta and phi."""
    track_d0_resolution: float = 0.0015
    """sigma(d0) = a (+) b / pT (cm): the constant term a."""
    track_d0_resolution_ms: float = 0.0035
    """... and the multiple-scattering term b (cm GeV)."""
    track_dz_resolution: float = 0.003
    """sigma(dz) = a (+) b / pT (cm): constant term."""
    track_dz_resolution_ms: float = 0.005
    """... and the multiple-scattering term (cm GeV)."""
    pixel_radii: tuple[float, ...] = (2.9, 6.8, 10.9, 16.0)
    """Radii (cm) of the barrel pixel layers (layer index = position in this tuple)."""
    pixel_half_length: float = 26.7
    """Half length in z (cm) of the barrel pixel layers."""
    pixel_efficiency: float = 0.99
    """Hit efficiency of a pixel layer crossed by a charged particle."""

    pileup_mean: float = 0.0
    """Mean number of pile-up collisions per event (Poisson); 0 = no pile-up."""
    beamspot_sigma_z: float = 3.5
    """Length (cm) of the luminous region; pile-up vertices sit at N(0, sqrt 2 sigma)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            values = value if isinstance(value, tuple) else (value,)
            if any(not np.isfinite(v) or v < 0 for v in values):
                msg = f"DetectorConfig.{f.name} must be finite and >= 0, got {value!r}"
                raise ValueError(msg)
        for name in ("ecal_em_layers", "ecal_hadron_layers", "hcal_layers"):
            profile = getattr(self, name)
            if not profile or abs(sum(profile) - 1.0) > 1e-6 or min(profile) <= 0:
                msg = (
                    f"DetectorConfig.{name} must be positive fractions summing to 1, "
                    f"got {profile!r}"
                )
                raise ValueError(msg)
        if len(self.ecal_em_layers) != len(self.ecal_hadron_layers):
            msg = (
                "DetectorConfig.ecal_em_layers and ecal_hadron_layers need the same number "
                f"of layers, got {self.ecal_em_layers!r} and {self.ecal_hadron_layers!r}"
            )
            raise ValueError(msg)
        for name, profile in (
            ("ecal_layer_radii", "ecal_em_layers"),
            ("hcal_layer_radii", "hcal_layers"),
        ):
            if len(getattr(self, name)) != len(getattr(self, profile)):
                msg = (
                    f"DetectorConfig.{name} needs one radius per layer of {profile}, got "
                    f"{getattr(self, name)!r}"
                )
                raise ValueError(msg)
        radii = self.ecal_layer_radii + self.hcal_layer_radii
        if any(b <= a for a, b in itertools.pairwise(radii)):
            msg = (
                "DetectorConfig.ecal_layer_radii then hcal_layer_radii must increase, got "
                f"{self.ecal_layer_radii!r} and {self.hcal_layer_radii!r}"
            )
            raise ValueError(msg)
        for name in ("track_efficiency", "pixel_efficiency", "hadron_ecal_fraction"):
            if getattr(self, name) > 1:
                msg = f"DetectorConfig.{name} is a probability, got {getattr(self, name)!r}"
                raise ValueError(msg)

    @property
    def ecal_ieta_range(self) -> tuple[int, int]:
        """First and last ECAL ieta (inclusive): [-85, 84] for the defaults."""
        n = round(self.barrel_eta_max / self.ecal_cell_eta)
        return -n, n - 1

    @property
    def hcal_ieta_range(self) -> tuple[int, int]:
        """First and last HCAL ieta (inclusive): [-17, 16] for the defaults."""
        n = round(self.barrel_eta_max / self.hcal_cell_eta)
        return -n, n - 1


@dataclass(frozen=True)
class DetectorResponse:
    """Reconstructed-level collections of one chunk.

    Each is a :class:`~.collection.Collection` whose columns carry the generator-schema
    field names without the collection prefix (``hits["energy"]`` is ``Hit_energy``).
    """

    hits: Collection
    tracks: Collection
    pixel_hits: Collection


_PARTICLE_FIELDS = ("px", "py", "pz", "e", "pdg", "charge", "vx", "vy", "vz")
_KINEMATICS = ("pt", "eta", "phi")


def flatten_particles(particles: Collection | ak.Array) -> dict[str, np.ndarray]:
    """Particles -> flat contiguous NumPy columns, with ``pt, eta, phi`` (taken from the
    collection when it has them) and ``event`` (the event index of each)."""
    if not isinstance(particles, Collection):
        particles = Collection.from_awkward(particles, _PARTICLE_FIELDS)
    flat = {
        name: np.ascontiguousarray(particles[name], dtype=np.float64) for name in _PARTICLE_FIELDS
    }
    flat["pdg"] = np.ascontiguousarray(particles["pdg"], dtype=np.int32)
    if all(name in particles.columns for name in _KINEMATICS):
        flat.update(
            {name: np.ascontiguousarray(particles[name], dtype=np.float64) for name in _KINEMATICS}
        )
    else:
        flat.update(zip(_KINEMATICS, kinematics(flat["px"], flat["py"], flat["pz"]), strict=True))
    flat["event"] = particles.event
    return flat


_TRACK_IMPACT_FIELDS = ("pt", "eta", "phi", "charge", "d0", "dz")


def calorimeter_impact(
    tracks: Mapping[str, np.ndarray], config: DetectorConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Where each reconstructed track reaches the calorimeter front (``calo_radius_m``), as
    the response places the deposits of its particle and as ``truth_fraction`` finds a cell's
    closest track: the straight line of the track through its point of closest approach
    (``d0``, ``dz``) crosses the front radius (eta, phi seen from the origin) and phi turns
    by sign(charge) asin(0.3 B R / (2 pT)) in the field ``magnetic_field_t``.

    Args:
        tracks: columns ``pt, eta, phi, charge, d0, dz`` (generator-schema units), 1-D and
            equally long.
        config: the detector (default :class:`DetectorConfig`: the generator's).

    Returns:
        Impact ``eta`` and ``phi`` (float64, phi in [-pi, pi)), NaN for tracks that never get
        there (they loop before: pT <= 0.3 B R / 2 = 0.735 GeV for the defaults).
    """
    config = DetectorConfig() if config is None else config
    columns = {name: np.asarray(tracks[name], dtype=np.float64) for name in _TRACK_IMPACT_FIELDS}
    return load_native().calorimeter_impact(columns, config.magnetic_field_t, config.calo_radius_m)


@cache
def _native_config(config: DetectorConfig) -> dict[str, Any]:
    """The parameters of the native response: the config's fields, the cell grids and the
    Gaussian noise probabilities P(noise > threshold) and P(noise < threshold)."""
    out: dict[str, Any] = dataclasses.asdict(config)
    for name in ("ecal", "hcal"):
        noise, threshold = out[f"{name}_noise"], out[f"{name}_threshold"]
        out[f"{name}_ieta_min"], out[f"{name}_ieta_max"] = getattr(config, f"{name}_ieta_range")
        out[f"{name}_noise_tail"] = float(ndtr(-threshold / noise)) if noise > 0 else 0.0
        out[f"{name}_noise_below"] = float(ndtr(threshold / noise)) if noise > 0 else 1.0
    return out


def simulate(
    particles: Collection | ak.Array,
    config: DetectorConfig,
    rng: np.random.Generator,
    pileup: Collection | ak.Array | None = None,
) -> DetectorResponse:
    """Run the detector response on one chunk of events.

    Args:
        particles: visible final-state particles per event (a collection, or a jagged
            awkward array of records) with ``px, py, pz, e`` (GeV), ``pdg``,
            ``charge`` and production vertex ``vx, vy, vz`` (cm); ``pt, eta, phi`` are
            used when present (as :func:`~.truth.final_particles` gives them).
        config: the detector parameters.
        rng: the random generator (the response is reproducible given its state).
        pileup: optional pile-up particles per event, same fields (their ``vz`` carry
            the pile-up vertex position).

    Returns:
        The calorimeter hits, tracks and pixel hits of every event: hits per event
        ECAL then HCAL, each with its signal cells by cell and layer then its noise-only
        cells; tracks in particle order; pixel hits by particle, then layer.
    """
    flat = flatten_particles(particles)
    n_events = len(particles) if isinstance(particles, ak.Array) else particles.n_events
    if pileup is not None:
        n_pileup = len(pileup) if isinstance(pileup, ak.Array) else pileup.n_events
        if n_pileup != n_events:
            msg = f"pileup has {n_pileup} events but particles has {n_events}"
            raise ValueError(msg)
        pileup_flat = flatten_particles(pileup)
        flat = {name: np.concatenate([flat[name], pileup_flat[name]]) for name in flat}
    if not isinstance(rng, np.random.Generator):
        msg = f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
        raise TypeError(msg)
    hits, tracks, pixel_hits = load_native().detector_response(
        flat, n_events, _native_config(config), rng
    )
    return DetectorResponse(
        *(Collection(columns, counts) for counts, columns in (hits, tracks, pixel_hits))
    )
