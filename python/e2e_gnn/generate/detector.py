"""A parametric detector response: particles -> calorimeter cells, tracks, pixel hits.

The detector is a CMS-like barrel: a crystal ECAL and a 5x coarser HCAL, each read out
in three depth layers (as the layered images of the ATLAS calorimeter studies), a
silicon tracker that measures charged particles with pT, angle and impact-parameter
resolutions, and four barrel pixel layers. Every parameter lives in one
:class:`DetectorConfig`; ``docs/generator.md`` tabulates them.

Everything is vectorised with NumPy over all particles of a chunk of events; there
is no Python loop per particle or per cell.

Calorimeter model, per particle reaching the barrel (|eta| < ``barrel_eta_max``;
charged particles need pT above the looper limit 0.3 B R / 2 and are bent in phi by
asin(0.3 B R / (2 pT))):

- photons and electrons deposit all their energy in the ECAL; hadrons share it between
  ECAL and HCAL with an ECAL fraction drawn from a Beta distribution; muons leave fixed
  minimum-ionising deposits; neutrinos are not seen (they never reach this module);
- each calorimeter part is smeared with sigma/E = stochastic/sqrt(E) (+) constant
  (Gamma-distributed: unbiased and positive);
- the energy is split over the depth layers with a Dirichlet-fluctuating longitudinal
  profile and spread laterally over neighbouring cells with a Gaussian profile
  (integrated exactly over each cell and renormalised over a window of cells, so the
  deposited energy is conserved except where the window leaves the barrel);
- each hit cell gets Gaussian electronic noise, cells below threshold are dropped, and
  noise-only cells above threshold are added with the exact Gaussian-tail rate;
- ``truth_fraction``: the share of the cell's noise-free energy (per layer) from the
  particle of the reconstructed track closest to the cell in eta-phi (track and cell
  eta/phi as written), 0 if that track left nothing there, -1 if no track lies within
  ``truth_radius``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import awkward as ak
import numpy as np
from scipy.special import ndtr, ndtri

from .collection import Collection

__all__ = ["DetectorConfig", "DetectorResponse", "flatten_particles", "simulate"]

_LOOPER_CONSTANT = 0.3
"""GeV / (T m): pT = 0.3 B R for a unit charge on a circle of radius R."""


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


def flatten_particles(particles: Collection | ak.Array) -> dict[str, np.ndarray]:
    """Particles -> flat NumPy columns plus ``event`` (the event index of each)."""
    if not isinstance(particles, Collection):
        particles = Collection.from_awkward(particles, _PARTICLE_FIELDS)
    flat = {name: np.asarray(particles[name], dtype=np.float64) for name in _PARTICLE_FIELDS}
    flat["pdg"] = np.asarray(particles["pdg"]).astype(np.int32)
    flat["event"] = particles.event
    return flat


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


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
            ``charge`` and production vertex ``vx, vy, vz`` (cm).
        config: the detector parameters.
        rng: the random generator (the response is reproducible given its state).
        pileup: optional pile-up particles per event, same fields (their ``vz`` carry
            the pile-up vertex position).

    Returns:
        The calorimeter hits, tracks and pixel hits of every event.
    """
    flat = flatten_particles(particles)
    n_events = len(particles) if isinstance(particles, ak.Array) else particles.n_events
    if pileup is not None:
        n_pileup = len(pileup) if isinstance(pileup, ak.Array) else pileup.n_events
        if n_pileup != n_events:
            msg = f"pileup has {n_pileup} events but particles has {n_events}"
            raise ValueError(msg)
        flat = _concat([flat, flatten_particles(pileup)])
    pt = np.hypot(flat["px"], flat["py"])
    kin = {
        "pt": pt,
        "eta": np.arcsinh(flat["pz"] / np.maximum(pt, 1e-12)),
        "phi": np.arctan2(flat["py"], flat["px"]),
    }
    tracks, track_particle = _tracks(flat, kin, config, rng)
    hits = _calorimeter(flat, kin, tracks, track_particle, config, rng, n_events)
    pixel_hits = _pixel_hits(flat, kin, config, rng)
    hits, tracks, pixel_hits = (
        Collection.from_event_index(coll.pop("event"), coll, n_events)
        for coll in (hits, tracks, pixel_hits)
    )
    return DetectorResponse(hits, tracks, pixel_hits)


# ---------------------------------------------------------------------------- tracks


def _tracks(
    flat: dict[str, np.ndarray],
    kin: dict[str, np.ndarray],
    config: DetectorConfig,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Smeared tracks of charged particles; also returns the particle index of each."""
    pt = kin["pt"]
    radius = np.hypot(flat["vx"], flat["vy"])
    reco = (
        (flat["charge"] != 0)
        & (pt > config.track_pt_min)
        & (np.abs(kin["eta"]) < config.track_eta_max)
        & (radius < config.track_max_vertex_radius)
    )
    reco &= rng.random(reco.size) < config.track_efficiency
    index = np.flatnonzero(reco)
    px, py, pz = flat["px"][index], flat["py"][index], flat["pz"][index]
    vx, vy, vz = flat["vx"][index], flat["vy"][index], flat["vz"][index]
    true_pt = pt[index]
    # impact parameters of the straight line through the production vertex
    d0 = (-vx * py + vy * px) / true_pt
    dz = vz - (vx * px + vy * py) / true_pt * pz / true_pt
    n = index.size
    sigma_pt = np.hypot(config.track_pt_resolution, config.track_pt_resolution_slope * true_pt)
    sigma_d0 = np.hypot(config.track_d0_resolution, config.track_d0_resolution_ms / true_pt)
    sigma_dz = np.hypot(config.track_dz_resolution, config.track_dz_resolution_ms / true_pt)
    phi = kin["phi"][index] + rng.normal(0.0, config.track_angle_resolution, n)
    tracks = {
        "event": flat["event"][index],
        "pt": (true_pt * (1.0 + sigma_pt * rng.standard_normal(n))).astype(np.float32),
        "eta": (kin["eta"][index] + rng.normal(0.0, config.track_angle_resolution, n)).astype(
            np.float32
        ),
        "phi": _wrap(phi).astype(np.float32),
        "d0": (d0 + sigma_d0 * rng.standard_normal(n)).astype(np.float32),
        "dz": (dz + sigma_dz * rng.standard_normal(n)).astype(np.float32),
        "charge": np.sign(flat["charge"][index]).astype(np.int32),
    }
    order = np.argsort(tracks["event"], kind="stable")
    return {k: v[order] for k, v in tracks.items()}, index[order]


def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


def _pixel_hits(
    flat: dict[str, np.ndarray],
    kin: dict[str, np.ndarray],
    config: DetectorConfig,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Where charged particles cross the barrel pixel layers (straight line + bending)."""
    radii = np.asarray(config.pixel_radii, dtype=np.float64)
    # skip particles from the beam line whose straight line stays beyond the layers'
    # length from the innermost to the outermost radius (z is linear in r there);
    # displaced particles are always tried
    slope = flat["pz"] / np.maximum(kin["pt"], 1e-12)
    z_inner = flat["vz"] + slope * radii.min()
    z_outer = flat["vz"] + slope * radii.max()
    half = config.pixel_half_length
    misses = ((z_inner > half) & (z_outer > half)) | ((z_inner < -half) & (z_outer < -half))
    on_beam = (flat["vx"] == 0) & (flat["vy"] == 0)
    reach = ~(on_beam & misses)
    charged = np.flatnonzero((flat["charge"] != 0) & reach)
    pt = kin["pt"][charged]
    # which (particle, layer) pairs give a hit: produced inside the layer, not curling
    # up before it (helix diameter 2 pT / (0.3 B) > r) and the layer efficient
    bend_arg = (
        _LOOPER_CONSTANT * config.magnetic_field_t * radii[None, :] / 100.0 / (2.0 * pt[:, None])
    )
    r_vertex2 = flat["vx"][charged] ** 2 + flat["vy"][charged] ** 2
    crosses = (r_vertex2[:, None] < radii[None, :] ** 2) & (bend_arg < 1.0)
    crosses &= rng.random(crosses.shape) < config.pixel_efficiency
    row, layer = np.nonzero(crosses)
    particle = charged[row]
    radius = radii[layer]
    phi = kin["phi"][particle].copy()
    vx, vy, vz = flat["vx"][particle], flat["vy"][particle], flat["vz"][particle]
    # path length s in the transverse plane from the vertex to radius r: r itself for
    # particles made on the beam line (most of them), a quadratic for displaced ones
    s = radius.copy()
    displaced = np.flatnonzero(r_vertex2[row] > 0)
    if displaced.size:
        cos0, sin0 = np.cos(phi[displaced]), np.sin(phi[displaced])
        dx, dy, r = vx[displaced], vy[displaced], radius[displaced]
        along = dx * cos0 + dy * sin0
        s[displaced] = -along + np.sqrt(np.maximum(along**2 - dx**2 - dy**2 + r**2, 0.0))
        phi[displaced] = np.arctan2(dy + s[displaced] * sin0, dx + s[displaced] * cos0)
    z = vz + s * flat["pz"][particle] / np.maximum(pt[row], 1e-12)
    phi -= np.sign(flat["charge"][particle]) * np.arcsin(bend_arg[row, layer])
    inside = np.abs(z) < config.pixel_half_length
    event = flat["event"][particle][inside]
    order = np.argsort(event, kind="stable")
    return {
        "event": event[order],
        "eta": np.arcsinh(z[inside] / radius[inside]).astype(np.float32)[order],
        "phi": _wrap(phi[inside]).astype(np.float32)[order],
        "layer": layer[inside].astype(np.int32)[order],
    }


# ----------------------------------------------------------------------- calorimeter


@dataclass(frozen=True)
class _Grid:
    """One sub-detector's cell grid."""

    subdet: int
    cell_eta: float
    n_phi: int
    ieta_min: int
    ieta_max: int
    noise: float
    threshold: float
    n_layers: int

    @property
    def n_eta(self) -> int:
        return self.ieta_max - self.ieta_min + 1


def _smear(energy: np.ndarray, a: float, c: float, rng: np.random.Generator) -> np.ndarray:
    """Energy smeared with sigma/E = a/sqrt(E) (+) c.

    Drawn from a Gamma distribution with that mean and variance: unbiased and never
    negative, also for soft particles where a Gaussian would be clipped at zero.
    """
    out = np.zeros_like(energy)
    positive = energy > 0
    e = energy[positive]
    rel2 = a * a / e + c * c
    if rel2.size and rel2.max() > 0:
        out[positive] = rng.gamma(1.0 / rel2, e * rel2)
    else:
        out[positive] = e
    return out


def _profile(
    mean: tuple[float, ...], fluctuate: np.ndarray, k: float, rng: np.random.Generator
) -> np.ndarray:
    """[n, layers] depth fractions: Dirichlet around ``mean`` (concentration k) where
    ``fluctuate``, the mean profile elsewhere."""
    out = np.tile(np.asarray(mean, dtype=np.float64), (fluctuate.size, 1))
    n = int(fluctuate.sum())
    if n and k > 0:
        out[fluctuate] = rng.dirichlet(np.asarray(mean) * k, size=n)
    return out


def _lateral(u: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell index and fraction of a Gaussian centred at u (cell units) per window cell.

    Returns (cells [P, W] int, fractions [P, W]) with W = 2 round(2 sigma) + 1, rows
    summing to 1.
    """
    half = round(2.0 * sigma)
    centre = np.floor(u).astype(np.int64)
    cells = centre[:, None] + np.arange(-half, half + 1)[None, :]
    if sigma == 0:
        return cells, (cells == centre[:, None]).astype(np.float64)
    low = (cells - u[:, None]) / sigma
    frac = ndtr(low + 1.0 / sigma) - ndtr(low)
    return cells, frac / frac.sum(axis=1, keepdims=True)


def _group(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and, per input key, the index of its group (a sort-based
    ``np.unique(return_inverse=True)``, much faster than NumPy 2's hash-based one)."""
    order = np.argsort(keys)
    ordered = keys[order]
    first = np.empty(ordered.size, dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    inverse = np.empty(keys.size, dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse


def _nearest_track(
    event: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    tracks: dict[str, np.ndarray],
    radius: float,
) -> np.ndarray:
    """Index of the closest track (eta-phi, same event) within ``radius`` of each
    point, -1 when there is none; ties go to the lower track index.

    Tracks are binned in (event, eta, phi) bins at least ``radius`` wide and each
    point looks at the 3 x 3 bins around its own, so only near pairs are formed.
    """
    out = np.full(event.size, -1, dtype=np.int64)
    if event.size == 0 or tracks["eta"].size == 0 or radius <= 0:
        return out
    n_phi = max(int(2 * np.pi // radius), 3)
    width = 2 * np.pi / n_phi
    t_eta, t_phi = tracks["eta"].astype(np.float64), tracks["phi"].astype(np.float64)
    p_eta, p_phi = eta.astype(np.float64), phi.astype(np.float64)
    eta_offset = int(np.ceil(max(np.abs(t_eta).max(), np.abs(p_eta).max()) / radius)) + 2
    n_eta = 2 * eta_offset

    def bins(ev: np.ndarray, e: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        be = np.floor(e / radius).astype(np.int64) + eta_offset
        bp = np.floor((p % (2 * np.pi)) / width).astype(np.int64) % n_phi
        return ev.astype(np.int64) * n_eta + be, bp

    t_row, t_col = bins(tracks["event"], t_eta, t_phi)
    t_key = t_row * n_phi + t_col
    order = np.argsort(t_key, kind="stable")
    sorted_key = t_key[order]
    p_row, p_col = bins(event, p_eta, p_phi)
    best_dr2 = np.full(event.size, radius**2)
    for d_eta in (-1, 0, 1):
        for d_phi in (-1, 0, 1):
            key = (p_row + d_eta) * n_phi + (p_col + d_phi) % n_phi
            lo = np.searchsorted(sorted_key, key, side="left")
            n = np.searchsorted(sorted_key, key, side="right") - lo
            has = np.flatnonzero(n)
            if has.size == 0:
                continue
            n_has = n[has]
            # pairs grouped by point, tracks of a bin in increasing index order
            point = np.repeat(has, n_has)
            start = np.cumsum(n_has) - n_has
            track = order[np.repeat(lo[has] - start, n_has) + np.arange(point.size)]
            dphi = np.abs(p_phi[point] - t_phi[track])
            dphi = np.minimum(dphi, 2 * np.pi - dphi)
            dr2 = (p_eta[point] - t_eta[track]) ** 2 + dphi**2
            seg_min = np.minimum.reduceat(dr2, start)
            # the first (lowest-index) track reaching the segment minimum
            hit = np.flatnonzero(dr2 == np.repeat(seg_min, n_has))
            first = np.ones(hit.size, dtype=bool)
            first[1:] = point[hit][1:] != point[hit][:-1]
            hit = hit[first]
            candidate, cand_dr2, cand_track = point[hit], dr2[hit], track[hit]
            better = (cand_dr2 < best_dr2[candidate]) | (
                (cand_dr2 == best_dr2[candidate])
                & (out[candidate] >= 0)
                & (cand_track < out[candidate])
            )
            best_dr2[candidate[better]] = cand_dr2[better]
            out[candidate[better]] = cand_track[better]
    return out


def _cells(
    event: np.ndarray,
    energy: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    layers: np.ndarray,
    sigma: np.ndarray,
    track_id: np.ndarray,
    tracks: dict[str, np.ndarray],
    truth_radius: float,
    grid: _Grid,
    n_events: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Deposit particles in one sub-detector: cells with noise, threshold and truth.

    Each particle's energy is spread laterally over a window of cells (Gaussian of
    width ``sigma`` cells, per particle) and over the depth layers (``layers`` [P, L]).
    Returns hits sorted by event, then cell, then layer.
    """
    n_layers = layers.shape[1]
    cell_parts, particle_parts, frac_parts = [], [], []
    for width in np.unique(sigma):
        sel = np.flatnonzero(sigma == width)
        u = eta[sel] / grid.cell_eta
        v = (phi[sel] % (2 * np.pi)) / (2 * np.pi / grid.n_phi)
        ieta, feta = _lateral(u, float(width))
        iphi, fphi = _lateral(v, float(width))
        w = ieta.shape[1]
        feta = feta * ((ieta >= grid.ieta_min) & (ieta <= grid.ieta_max))
        cell = (event[sel, None] * grid.n_eta + (ieta - grid.ieta_min))[:, :, None] * grid.n_phi
        cell = (cell + (iphi % grid.n_phi)[:, None, :]).reshape(-1)
        frac = (feta[:, :, None] * fphi[:, None, :]).reshape(-1)
        keep = frac > 0
        cell_parts.append(cell[keep])
        particle_parts.append(np.repeat(sel, w * w)[keep])
        frac_parts.append(frac[keep])
    cell = np.concatenate(cell_parts) if cell_parts else np.zeros(0, np.int64)
    particle = np.concatenate(particle_parts) if cell_parts else np.zeros(0, np.int64)
    frac = np.concatenate(frac_parts) if cell_parts else np.zeros(0)
    occupied, inverse = _group(cell)
    n_cells = occupied.size
    weight = energy[particle] * frac
    # [cells, layers] true energies
    true_energy = np.stack(
        [
            np.bincount(inverse, weights=weight * layers[particle, k], minlength=n_cells)
            for k in range(n_layers)
        ],
        axis=1,
    )
    # energy of each track's particle per (cell, layer), for the truth fraction
    by_track = np.flatnonzero(track_id[particle] >= 0)
    n_tracks = max(len(tracks["eta"]), 1)
    pair_key, pair_inverse = _group(inverse[by_track] * n_tracks + track_id[particle[by_track]])
    pair_energy = np.stack(
        [
            np.bincount(
                pair_inverse,
                weights=weight[by_track] * layers[particle[by_track], k],
                minlength=pair_key.size,
            )
            for k in range(n_layers)
        ],
        axis=1,
    )
    # signal cells as (cell, layer) pairs, already ordered by event, cell, layer
    cell_key = np.repeat(occupied, n_layers)
    layer = np.tile(np.arange(n_layers), n_cells)
    measured = true_energy.reshape(-1) + rng.normal(0.0, grid.noise, cell_key.size)
    cell_row = np.repeat(np.arange(n_cells), n_layers)
    # noise-only cells: Poisson count from the exact Gaussian tail above threshold
    n_grid = n_events * grid.n_eta * grid.n_phi
    tail = float(ndtr(-grid.threshold / grid.noise)) if grid.noise > 0 else 0.0
    n_noise = int(rng.poisson(n_grid * n_layers * tail)) if tail > 0 else 0
    noise_cell = rng.integers(0, n_grid, n_noise)
    noise_layer = rng.integers(0, n_layers, n_noise)
    found = np.searchsorted(occupied, noise_cell).clip(max=max(n_cells - 1, 0))
    free = occupied[found] != noise_cell if n_cells else np.ones(n_noise, dtype=bool)
    noise_cell, noise_layer = noise_cell[free], noise_layer[free]
    lower = ndtr(grid.threshold / grid.noise) if grid.noise > 0 else 1.0
    draw = lower + rng.random(noise_cell.size) * (1.0 - lower)
    noise_energy = grid.noise * ndtri(np.minimum(draw, 1.0 - 1e-16))
    cell_key = np.concatenate([cell_key, noise_cell])
    layer = np.concatenate([layer, noise_layer])
    measured = np.concatenate([measured, noise_energy])
    cell_row = np.concatenate([cell_row, np.full(noise_cell.size, -1)])
    keep = measured > grid.threshold
    cell_key, layer, measured, cell_row = (
        cell_key[keep],
        layer[keep],
        measured[keep],
        cell_row[keep],
    )
    event_out, in_event = np.divmod(cell_key, grid.n_eta * grid.n_phi)
    ieta0, iphi_out = np.divmod(in_event, grid.n_phi)
    ieta_out = ieta0 + grid.ieta_min
    dphi = 2 * np.pi / grid.n_phi
    eta_out = ((ieta_out + 0.5) * grid.cell_eta).astype(np.float32)
    phi_out = _wrap((iphi_out + 0.5) * dphi).astype(np.float32)
    # truth fraction: share of the (noise-free) cell energy from the closest track
    # (one search per cell, shared by its layers)
    cells, row_of = _group(cell_key)
    first_row = np.zeros(cells.size, dtype=np.int64)
    first_row[row_of[::-1]] = np.arange(row_of.size)[::-1]
    nearest = _nearest_track(
        event_out[first_row], eta_out[first_row], phi_out[first_row], tracks, truth_radius
    )[row_of]
    fraction = np.where(nearest >= 0, 0.0, -1.0)
    lookup = np.flatnonzero((nearest >= 0) & (cell_row >= 0))
    if lookup.size and pair_key.size:
        key = cell_row[lookup] * n_tracks + nearest[lookup]
        at = np.minimum(np.searchsorted(pair_key, key), pair_key.size - 1)
        found = pair_key[at] == key
        rows, at = lookup[found], at[found]
        share = pair_energy[at, layer[rows]] / true_energy[cell_row[rows], layer[rows]]
        fraction[rows] = np.minimum(share, 1.0)
    return {
        "event": event_out,
        "eta": eta_out,
        "phi": phi_out,
        "energy": measured.astype(np.float32),
        "subdet": np.full(cell_key.size, grid.subdet, dtype=np.int32),
        "layer": layer.astype(np.int32),
        "ieta": ieta_out.astype(np.int32),
        "iphi": iphi_out.astype(np.int32),
        "truth_fraction": fraction.astype(np.float32),
    }


def _calorimeter(
    flat: dict[str, np.ndarray],
    kin: dict[str, np.ndarray],
    tracks: dict[str, np.ndarray],
    track_particle: np.ndarray,
    config: DetectorConfig,
    rng: np.random.Generator,
    n_events: int,
) -> dict[str, np.ndarray]:
    """ECAL and HCAL hits of all events, sorted by event, sub-detector, layer, cell."""
    pt, eta, phi = kin["pt"], kin["eta"], kin["phi"]
    charge = flat["charge"]
    bend_arg = _LOOPER_CONSTANT * config.magnetic_field_t * config.calo_radius_m / (2.0 * pt)
    reaches = (charge == 0) | (bend_arg < 1.0)
    inside = reaches & (np.abs(eta) < config.barrel_eta_max)
    index = np.flatnonzero(inside)
    track_of = np.full(flat["e"].size, -1, dtype=np.int64)
    track_of[track_particle] = np.arange(track_particle.size)
    track_id = track_of[index]
    phi_calo = phi[index] - np.sign(charge[index]) * np.arcsin(np.minimum(bend_arg[index], 1.0))
    eta, energy, event = eta[index], flat["e"][index], flat["event"][index]
    pdg = np.abs(flat["pdg"][index])
    em = (pdg == 11) | (pdg == 22)
    muon = pdg == 13
    hadron = ~(em | muon)

    m, k = config.hadron_ecal_fraction, config.hadron_ecal_concentration
    f_ecal = np.where(em, 1.0, 0.0)
    if hadron.any():
        f_ecal[hadron] = rng.beta(k * m, k * (1 - m), int(hadron.sum())) if 0 < m < 1 else m
    e_ecal = energy * f_ecal
    e_hcal = energy - e_ecal
    e_ecal[muon] = np.minimum(energy[muon], config.muon_ecal)
    e_hcal[muon] = np.minimum(energy[muon] - e_ecal[muon], config.muon_hcal)
    e_ecal = _smear(e_ecal, config.ecal_stochastic, config.ecal_constant, rng)
    e_hcal = _smear(e_hcal, config.hcal_stochastic, config.hcal_constant, rng)

    # depth profiles fluctuate for showers above spread_min_energy; softer ones take
    # the mean profile (their fluctuations are far below the noise)
    conc, soft = config.layer_concentration, config.spread_min_energy
    ecal_layers = np.where(
        em[:, None],
        _profile(config.ecal_em_layers, em & (e_ecal >= soft), conc, rng),
        _profile(config.ecal_hadron_layers, ~em & (e_ecal >= soft), conc, rng),
    )
    hcal_layers = _profile(config.hcal_layers, e_hcal >= soft, conc, rng)

    ecal_lo, ecal_hi = config.ecal_ieta_range
    hcal_lo, hcal_hi = config.hcal_ieta_range
    ecal = _Grid(
        0,
        config.ecal_cell_eta,
        config.ecal_n_phi,
        ecal_lo,
        ecal_hi,
        config.ecal_noise,
        config.ecal_threshold,
        len(config.ecal_em_layers),
    )
    hcal = _Grid(
        1,
        config.hcal_cell_eta,
        config.hcal_n_phi,
        hcal_lo,
        hcal_hi,
        config.hcal_noise,
        config.hcal_threshold,
        len(config.hcal_layers),
    )
    ecal_spread = np.where(em, config.ecal_em_spread, config.ecal_hadron_spread)
    ecal_spread = np.where(e_ecal < soft, 0.0, ecal_spread)
    hcal_spread = np.where(e_hcal < soft, 0.0, config.hcal_spread)
    parts = []
    for grid, e_part, layers, spread in (
        (ecal, e_ecal, ecal_layers, ecal_spread),
        (hcal, e_hcal, hcal_layers, hcal_spread),
    ):
        sel = np.flatnonzero(e_part > 0)
        parts.append(
            _cells(
                event[sel],
                e_part[sel],
                eta[sel],
                phi_calo[sel],
                layers[sel],
                spread[sel],
                track_id[sel],
                tracks,
                config.truth_radius,
                grid,
                n_events,
                rng,
            )
        )
    hits = _concat(parts)
    order = np.argsort(hits["event"], kind="stable")
    return {k: v[order] for k, v in hits.items()}
