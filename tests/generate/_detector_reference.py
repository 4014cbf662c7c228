"""The former NumPy implementation of the detector response, for tests only.

``e2e_gnn.generate.detector.simulate`` now runs in C++ (``cpp/detector/src/detector.cpp``),
drawing through NumPy's own distribution functions. This module keeps the NumPy code it
replaced, unchanged but for names and for the showers of particles made away from the
origin (one per depth layer, where the line from the vertex crosses the layer radius),
added to both: :func:`simulate_reference` draws the same random
numbers in the same order, so the tests compare the two output by output.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np
from scipy.special import ndtr, ndtri

from e2e_gnn.generate.collection import Collection
from e2e_gnn.generate.detector import DetectorConfig, DetectorResponse

__all__ = ["nearest_track", "simulate_reference"]

_LOOPER_CONSTANT = 0.3
"""GeV / (T m): pT = 0.3 B R for a unit charge on a circle of radius R."""

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


def simulate_reference(
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


def _track_impact(tracks: dict[str, np.ndarray], config: DetectorConfig) -> dict[str, np.ndarray]:
    """The tracks reaching the calorimeter front, where they reach it (float32, as written):
    the straight line through the point of closest approach (-d0 sin phi, d0 cos phi, dz)
    crossing the front radius, phi bent by sign(q) asin(0.3 B R / (2 pT)); ``index`` is the
    track index of each."""
    pt, eta, phi = (tracks[k].astype(np.float64) for k in ("pt", "eta", "phi"))
    charge, d0, dz = (tracks[k].astype(np.float64) for k in ("charge", "d0", "dz"))
    with np.errstate(divide="ignore"):
        bend_arg = _LOOPER_CONSTANT * config.magnetic_field_t * config.calo_radius_m / (2.0 * pt)
    r = 100.0 * config.calo_radius_m
    vx, vy = -d0 * np.sin(phi), d0 * np.cos(phi)
    r_vertex2 = vx * vx + vy * vy
    reaches = (pt > 0) & ((charge == 0) | (bend_arg < 1.0)) & (r_vertex2 < r * r)
    cos0, sin0 = np.cos(phi), np.sin(phi)
    along = vx * cos0 + vy * sin0
    s = -along + np.sqrt(np.maximum(along * along - r_vertex2 + r * r, 0.0))
    z = dz + s * np.sinh(eta)
    bend = np.sign(charge) * np.arcsin(np.minimum(bend_arg, 1.0))
    impact_phi = _wrap(np.arctan2(vy + s * sin0, vx + s * cos0) - bend)
    index = np.flatnonzero(reaches)
    return {
        "event": tracks["event"][index],
        "eta": np.arcsinh(z / r)[index].astype(np.float32),
        "phi": impact_phi[index].astype(np.float32),
        "index": index,
    }


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


def nearest_track(
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
    impact: dict[str, np.ndarray],
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
    nearest = nearest_track(
        event_out[first_row], eta_out[first_row], phi_out[first_row], impact, truth_radius
    )[row_of]
    found = nearest >= 0
    nearest[found] = impact["index"][nearest[found]]
    fraction = np.where(nearest >= 0, 0.0, -1.0)
    lookup = np.flatnonzero((nearest >= 0) & (cell_row >= 0))
    if lookup.size and pair_key.size:
        key = cell_row[lookup] * n_tracks + nearest[lookup]
        at = np.minimum(np.searchsorted(pair_key, key), pair_key.size - 1)
        found = pair_key[at] == key
        rows, at = lookup[found], at[found]
        own = pair_energy[at, layer[rows]]
        rows, own = rows[own > 0], own[own > 0]
        fraction[rows] = np.minimum(own / true_energy[cell_row[rows], layer[rows]], 1.0)
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


def _cross_cylinders(
    flat: dict[str, np.ndarray], kin: dict[str, np.ndarray], radii: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[P, R]: whether each particle's straight line from its vertex crosses each radius
    (the vertex lies inside it), and eta, phi of the crossing seen from the origin."""
    vx, vy = flat["vx"][:, None], flat["vy"][:, None]
    r = radii[None, :]
    r_vertex2 = vx * vx + vy * vy
    crossed = r_vertex2 < r * r
    cos0, sin0 = np.cos(kin["phi"])[:, None], np.sin(kin["phi"])[:, None]
    along = vx * cos0 + vy * sin0
    s = -along + np.sqrt(np.maximum(along * along - r_vertex2 + r * r, 0.0))
    z = flat["vz"][:, None] + s * flat["pz"][:, None] / np.maximum(kin["pt"], 1e-12)[:, None]
    with np.errstate(invalid="ignore"):
        eta = np.arcsinh(z / r)
    return crossed, eta, np.arctan2(vy + s * sin0, vx + s * cos0)


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
    # particles made away from the origin: where their lines cross each layer radius;
    # the acceptance is that of the first layer reached
    at_origin = (flat["vx"] == 0) & (flat["vy"] == 0) & (flat["vz"] == 0)
    radii = np.asarray(config.ecal_layer_radii + config.hcal_layer_radii)
    crossed, cross_eta, cross_phi = _cross_cylinders(flat, kin, radii)
    first = np.argmax(crossed, axis=1)
    eta_front = np.where(at_origin, eta, cross_eta[np.arange(eta.size), first])
    inside = (
        reaches & (at_origin | crossed.any(axis=1)) & (np.abs(eta_front) < config.barrel_eta_max)
    )
    index = np.flatnonzero(inside)
    impact = _track_impact(tracks, config)
    track_of = np.full(flat["e"].size, -1, dtype=np.int64)
    track_of[track_particle] = np.arange(track_particle.size)
    track_id = track_of[index]
    phi_bend = np.sign(charge[index]) * np.arcsin(np.minimum(bend_arg[index], 1.0))
    phi_calo = phi[index] - phi_bend
    at_origin, crossed = at_origin[index], crossed[index]
    cross_eta, cross_phi = cross_eta[index], cross_phi[index] - phi_bend[:, None]
    eta, energy, event = eta[index], flat["e"][index], flat["event"][index]
    pdg = np.abs(flat["pdg"][index])
    em = (pdg == 11) | (pdg == 22)
    muon = pdg == 13
    hadron = ~(em | muon)

    m, k = config.hadron_ecal_fraction, config.hadron_ecal_concentration
    # an electron or photon made beyond the last ECAL layer showers in the HCAL
    n_ecal = len(config.ecal_layer_radii)
    f_ecal = np.where(em & crossed[:, n_ecal - 1], 1.0, 0.0)
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
    for grid, e_part, layers, spread, columns in (
        (ecal, e_ecal, ecal_layers, ecal_spread, slice(0, n_ecal)),
        (hcal, e_hcal, hcal_layers, hcal_spread, slice(n_ecal, None)),
    ):
        sel = np.flatnonzero(e_part > 0)
        # one shower per particle made at the origin, else one per layer it reaches
        # holding that layer's share only
        n_layers = layers.shape[1]
        emit = crossed[sel, columns] & ~at_origin[sel, None]
        emit[:, 0] |= at_origin[sel]
        row, k = np.nonzero(emit)
        particle = sel[row]
        prompt = at_origin[particle]
        one_hot = np.eye(n_layers)[k]
        shower_layers = np.where(prompt[:, None], layers[particle], layers[particle] * one_hot)
        shower_eta = np.where(prompt, eta[particle], cross_eta[:, columns][particle, k])
        shower_phi = np.where(prompt, phi_calo[particle], cross_phi[:, columns][particle, k])
        parts.append(
            _cells(
                event[particle],
                e_part[particle],
                shower_eta,
                shower_phi,
                shower_layers,
                spread[particle],
                track_id[particle],
                tracks,
                impact,
                config.truth_radius,
                grid,
                n_events,
                rng,
            )
        )
    hits = _concat(parts)
    order = np.argsort(hits["event"], kind="stable")
    return {k: v[order] for k, v in hits.items()}
