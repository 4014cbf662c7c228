"""JetPointNet style point clouds: the calorimeter cells around each track, ragged.

For every track (``pt >= min_pt``) the cells within ``radius`` (default 0.2) in eta-phi of
the track direction form one cloud; there is no maximum length and no padding. The track
direction at the vertex is used, without propagation through the field: a documented
simplification (in 3.8 T the azimuthal bend at the ECAL radius of 1.29 m is about
0.74 / pT[GeV] rad, more than a crystal below ~40 GeV).

Per-cell features (``POINT_FEATURES``): ``deta``, ``dphi`` (cell minus track, phi wrapped),
``dr``, ``energy`` (GeV), ``depth`` (0-2 ECAL layers, 3-5 HCAL layers), ``subdet``.

Per-cell label: the fraction of the cell's energy deposited by the focused track. The
generator's ``truth_fraction`` is the fraction from the track the cell is closest to, so the
label is ``truth_fraction`` when the focused track is that closest track (by eta-phi
distance, over all tracks of the event), 0 when another track is closer, and -1 (unknown:
mask it in the loss, as JetPointNet does) when ``truth_fraction`` is -1 or absent.
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

__all__ = ["POINT_FEATURES", "TRACK_FEATURES", "PointCloudProducer", "PointClouds"]

POINT_FEATURES: tuple[str, ...] = ("deta", "dphi", "dr", "energy", "depth", "subdet")
TRACK_FEATURES: tuple[str, ...] = ("pt", "eta", "phi", "d0", "dz", "charge")


@dataclass
class PointClouds:
    """Ragged per-track clouds.

    ``data`` is an awkward array with one record per cloud: ``event`` (int64), ``track_index``
    (int64, index in the event's tracks), ``track`` (record of ``TRACK_FEATURES``),
    ``points`` (var * record of ``POINT_FEATURES``), ``label`` (var * float32, aligned with
    ``points``). ``dropped`` counts tracks without a cloud, by reason.
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
    """

    radius: float = 0.2
    min_pt: float = 0.0
    min_points: int = 1

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

        # every (track, cell) pair of an event within the radius, tracks in order
        trk, hit = pairs_in_band(t_entry, t["eta"], h_entry, h["eta"], self.radius, self.radius)
        deta = h["eta"][hit] - t["eta"][trk]
        dphi = geo.delta_phi(h["phi"][hit], t["phi"][trk])
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

        # clouds of the tracks above min_pt
        focus = np.flatnonzero(t["pt"] >= self.min_pt)
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
                "track": ak.zip({f: t[f][sel] for f in TRACK_FEATURES}),
                "points": ak.unflatten(points, counts[kept]),
                "label": ak.unflatten(label[keep_pair].astype(np.float32), counts[kept]),
            },
            depth_limit=1,
        )
        dropped = {
            "below_min_pt": int(len(t_entry) - len(focus)),
            "too_few_points": int((~kept).sum()),
        }
        return PointClouds(data, dropped)
