"""JetPointNet style point clouds: the calorimeter cells around each track, ragged.

For every track (``pt >= min_pt``) the cells within ``radius`` (default 0.2) in eta-phi of
the point where the track reaches the calorimeter form one cloud; there is no maximum length
and no padding. That point is the detector's own (:func:`e2e_gnn.generate.detector.
calorimeter_impact`: the track's straight line crosses the ECAL front, 1.29 m, and turns
by asin(0.3 B R / (2 pT)) in the 3.8 T field, 0.25 rad at 3 GeV), the same one the
generator's ``truth_fraction`` uses, so a charged particle's deposits sit in its own
track's cloud. Tracks that loop before the calorimeter (pT below 0.735 GeV) get no cloud.

Per-cell features (``POINT_FEATURES``): ``deta``, ``dphi`` (cell minus track impact, phi
wrapped), ``dr``, ``energy`` (GeV), ``depth`` (0-2 ECAL layers, 3-5 HCAL layers),
``subdet``. Per-cloud track record (``CLOUD_TRACK_FEATURES``): the file's ``TRACK_FEATURES``
(``eta``, ``phi`` at the vertex) and the impact ``eta_calo``, ``phi_calo``.

Per-cell label: the fraction of the cell's energy deposited by the focused track. The
generator's ``truth_fraction`` is the fraction from the track whose impact the cell is
closest to, so the label is ``truth_fraction`` when the focused track is that closest track
(by eta-phi distance to the impacts, over all tracks of the event that reach the
calorimeter), 0 when another track is closer, and -1 (unknown: mask it in the loss, as
JetPointNet does) when ``truth_fraction`` is -1 or absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import awkward as ak
import numpy as np

from e2e_gnn.frames import geometry as geo
from e2e_gnn.frames.base import (
    event_numbers,
    flat_collection,
    flat_hits,
    pairs_in_band,
    require_fields,
)
from e2e_gnn.generate.detector import DetectorConfig, calorimeter_impact

__all__ = [
    "CLOUD_TRACK_FEATURES",
    "POINT_FEATURES",
    "TRACK_FEATURES",
    "PointCloudProducer",
    "PointClouds",
]

POINT_FEATURES: tuple[str, ...] = ("deta", "dphi", "dr", "energy", "depth", "subdet")
TRACK_FEATURES: tuple[str, ...] = ("pt", "eta", "phi", "d0", "dz", "charge")
CLOUD_TRACK_FEATURES: tuple[str, ...] = (*TRACK_FEATURES, "eta_calo", "phi_calo")


@dataclass
class PointClouds:
    """Ragged per-track clouds.

    ``data`` is an awkward array with one record per cloud: ``event`` (int64), ``track_index``
    (int64, index in the event's tracks), ``track`` (record of ``CLOUD_TRACK_FEATURES``;
    files written before ``eta_calo``/``phi_calo`` existed lack them), ``points`` (var *
    record of ``POINT_FEATURES``), ``label`` (var * float32, aligned with ``points``).
    ``dropped`` counts tracks without a cloud, by reason.
    """

    data: ak.Array
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.data)

    def features(self) -> np.ndarray:
        """All points of all clouds as float32 ``[sum of lengths, len(POINT_FEATURES)]``."""
        pts = ak.flatten(self.data["points"], axis=1)
        return np.stack([ak.to_numpy(pts[f]) for f in POINT_FEATURES], axis=1).astype(np.float32)


@dataclass(frozen=True)
class PointCloudProducer:
    """Cells within ``radius`` of each track, with per-cell energy-fraction labels.

    Args:
        radius: eta-phi radius of a cloud (default: 0.2).
        min_pt: tracks below this pT (GeV) get no cloud (default: 0).
        min_points: clouds with fewer cells are dropped, counted (default: 1).
        detector: the field and calorimeter radius the tracks are propagated with (default:
            the generator's :class:`~e2e_gnn.generate.detector.DetectorConfig`).
    """

    radius: float = 0.2
    min_pt: float = 0.0
    min_points: int = 1
    detector: DetectorConfig = field(default_factory=DetectorConfig)

    def __call__(self, events: ak.Array) -> PointClouds:
        who = type(self).__name__
        require_fields(events, "tracks", TRACK_FEATURES, who)
        t, t_entry, t_off = flat_collection(events, "tracks", TRACK_FEATURES)
        hit_fields = ["eta", "phi", "energy", "subdet", "layer"]
        has_truth = "hits" in events.fields and "truth_fraction" in events["hits"].fields
        h, h_entry, _ = flat_hits(
            events, hit_fields + (["truth_fraction"] if has_truth else []), who
        )
        track_local = np.arange(len(t_entry), dtype=np.int64) - t_off[t_entry]
        # rounded to float32 as the generator rounds the impacts its truth_fraction is found
        # from, then compared in float64 as it compares them
        eta_calo, phi_calo = (x.astype(np.float32) for x in calorimeter_impact(t, self.detector))
        reach = np.flatnonzero(np.isfinite(eta_calo))
        t_eta, t_phi = eta_calo.astype(np.float64), phi_calo.astype(np.float64)

        # every (track, cell) pair of an event within the radius, tracks in order
        trk, hit = pairs_in_band(
            t_entry[reach], t_eta[reach], h_entry, h["eta"], self.radius, self.radius
        )
        trk = reach[trk]
        deta = h["eta"][hit] - t_eta[trk]
        dphi = geo.delta_phi(h["phi"][hit], t_phi[trk])
        dr = np.hypot(deta, dphi)
        near = np.flatnonzero(dr < self.radius)
        near = near[np.lexsort((hit[near], trk[near]))]  # cells in file order per track
        trk, hit, deta, dphi, dr = trk[near], hit[near], deta[near], dphi[near], dr[near]

        # closest track of every cell in some cloud: it is within the radius too, so among
        # these pairs (ties: the lower track index)
        order = np.lexsort((trk, dr, hit))
        first = np.ones(len(order), dtype=bool)
        first[1:] = hit[order][1:] != hit[order][:-1]
        closest = np.full(len(h_entry), -1, dtype=np.int64)
        closest[hit[order][first]] = trk[order][first]

        # clouds of the tracks above min_pt that reach the calorimeter
        above = t["pt"] >= self.min_pt
        focus = np.flatnonzero(above & np.isfinite(eta_calo))
        focused = np.zeros(len(t_entry), dtype=bool)
        focused[focus] = True
        keep = focused[trk]
        trk, hit, deta, dphi, dr = trk[keep], hit[keep], deta[keep], dphi[keep], dr[keep]
        obj = np.searchsorted(focus, trk)  # cloud number of each pair
        if has_truth:
            frac = h["truth_fraction"][hit]
            label = np.where(frac < 0, -1.0, np.where(closest[hit] == trk, frac, 0.0))
        else:
            label = np.full(len(hit), -1.0)
        counts = np.bincount(obj, minlength=len(focus))
        kept = counts >= self.min_points
        keep_pair = kept[obj]
        points = ak.zip(
            {
                "deta": deta[keep_pair].astype(np.float32),
                "dphi": dphi[keep_pair].astype(np.float32),
                "dr": dr[keep_pair].astype(np.float32),
                "energy": h["energy"][hit][keep_pair].astype(np.float32),
                "depth": (h["layer"] + geo.ECAL_LAYERS * h["subdet"])[hit][keep_pair].astype(
                    np.int32
                ),
                "subdet": h["subdet"][hit][keep_pair].astype(np.int32),
            }
        )
        sel = focus[kept]
        data = ak.zip(
            {
                "event": event_numbers(events)[t_entry[sel]],
                "track_index": track_local[sel],
                "track": ak.zip(
                    {
                        **{f: t[f][sel] for f in TRACK_FEATURES},
                        "eta_calo": eta_calo[sel],
                        "phi_calo": phi_calo[sel],
                    }
                ),
                "points": ak.unflatten(points, counts[kept]),
                "label": ak.unflatten(label[keep_pair].astype(np.float32), counts[kept]),
            },
            depth_limit=1,
        )
        dropped = {
            "below_min_pt": int((~above).sum()),
            "loops_before_calorimeter": int(above.sum() - len(focus)),
            "too_few_points": int((~kept).sum()),
        }
        return PointClouds(data, dropped)
