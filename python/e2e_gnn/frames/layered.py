"""ATLAS style layered calorimeter images: eta x phi x layer around each jet.

Following the ATLAS displaced-photon CNN study: calorimeter cells below ``threshold``
(default 400 MeV) are dropped, the cells within ``radius`` of the jet axis are taken, their
positions are made relative to the most energetic of them, and their energies are filled
into a ``bins x bins`` (default 15 x 15) eta-phi histogram per depth layer, then divided by
the image's total so every image sums to 1.

Layout: ``Frames.data`` is float32 ``[B, 1, L, H, W]`` = (jet, channel, layer, eta bin,
phi bin), the ``[N, C, D, H, W]`` order of ``torch.nn.Conv3d``; ``L = 6`` layers named by
``Frames.layer_names`` (ECAL depth 0-2, then HCAL depth 0-2). Bins are ``bin_eta`` x
``bin_phi`` wide (default: two ECAL crystals), the reference cell sits at the centre of bin
(bins // 2, bins // 2), and cells falling outside the image are not used (nor counted in the
normalisation). Jets with no cell above threshold within the radius get no image and are
counted as ``Frames.dropped["no_cell_above_threshold"]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from e2e_gnn.frames import geometry as geo
from e2e_gnn.frames.base import (
    Frames,
    event_numbers,
    flat_collection,
    flat_hits,
    pairs_in_band,
    require_fields,
)

__all__ = ["LAYER_NAMES", "LayeredCaloProducer"]

LAYER_NAMES: tuple[str, ...] = tuple(f"ECAL{i}" for i in range(geo.ECAL_LAYERS)) + tuple(
    f"HCAL{i}" for i in range(geo.HCAL_LAYERS)
)


@dataclass(frozen=True)
class LayeredCaloProducer:
    """Per-jet ``bins x bins x layers`` calorimeter images, normalised to unit sum.

    Args:
        bins: image side in bins, eta and phi (default: 15).
        threshold: minimum cell energy in GeV (default: 0.4).
        radius: cells within this eta-phi distance of the jet axis belong to the jet.
        bin_eta, bin_phi: bin widths (default: two ECAL crystals).
        collection: the jet collection (default: ``"jets"``).
    """

    bins: int = 15
    threshold: float = 0.4
    radius: float = 0.4
    bin_eta: float = 2 * geo.ECAL_DETA
    bin_phi: float = 2 * geo.ECAL_DPHI
    collection: str = "jets"

    def __call__(self, events: ak.Array) -> Frames:
        who = type(self).__name__
        require_fields(events, self.collection, ("eta", "phi"), who)
        fields = ["eta", "phi"] + (["label"] if "label" in events[self.collection].fields else [])
        jets, entry, _ = flat_collection(events, self.collection, fields)
        index = ak.to_numpy(ak.flatten(ak.local_index(events[self.collection], axis=1)))
        label = jets["label"] if "label" in jets else np.full(len(entry), -1)
        h, hit_entry, _ = flat_hits(events, ("eta", "phi", "energy", "subdet", "layer"), who)
        keep = h["energy"] >= self.threshold
        h = {k: v[keep] for k, v in h.items()}
        depth = h["layer"] + geo.ECAL_LAYERS * h["subdet"]
        bad = (depth < 0) | (depth >= len(LAYER_NAMES))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            msg = (
                f"{who}: hit with subdet {int(h['subdet'][i])!r}, layer {int(h['layer'][i])!r} "
                f"has no image layer; expected subdet 0/1 and layer in [0, {geo.ECAL_LAYERS})"
            )
            raise ValueError(msg)
        jet, hit = pairs_in_band(
            entry, jets["eta"], hit_entry[keep], h["eta"], self.radius, self.radius
        )
        deta = h["eta"][hit] - jets["eta"][jet]
        dphi = geo.delta_phi(h["phi"][hit], jets["phi"][jet])
        near = deta * deta + dphi * dphi < self.radius * self.radius
        jet, hit = jet[near], hit[near]
        n = len(entry)

        # reference: most energetic cell of each jet (first one on ties, in file order)
        order = np.lexsort((hit, -h["energy"][hit], jet))
        first = np.ones(len(order), dtype=bool)
        first[1:] = jet[order][1:] != jet[order][:-1]
        ref = np.full(n, -1, dtype=np.int64)
        ref[jet[order][first]] = hit[order][first]
        has = ref >= 0

        centre = self.bins // 2
        ie = (
            np.floor((h["eta"][hit] - h["eta"][ref[jet]]) / self.bin_eta + 0.5).astype(np.int64)
            + centre
        )
        ip = (
            np.floor(geo.delta_phi(h["phi"][hit], h["phi"][ref[jet]]) / self.bin_phi + 0.5).astype(
                np.int64
            )
            + centre
        )
        inside = (ie >= 0) & (ie < self.bins) & (ip >= 0) & (ip < self.bins)
        layers = len(LAYER_NAMES)
        flat = ((jet * layers + depth[hit]) * self.bins + ie) * self.bins + ip
        img: np.ndarray = (
            np.bincount(
                flat[inside],
                weights=h["energy"][hit][inside].astype(np.float64),
                minlength=n * layers * self.bins * self.bins,
            )
            .reshape(n, layers, self.bins, self.bins)
            .astype(np.float64)
        )  # int64 when empty
        img = img[has]
        img /= img.sum(axis=(1, 2, 3), keepdims=True)
        ref_row = geo.ecal_row(h["eta"][ref[has]])
        ref_col = geo.ecal_col(h["phi"][ref[has]])
        return Frames(
            data=img[:, None].astype(np.float32),
            channel_names=("CALO",),
            label=label[has].astype(np.int32),
            event=event_numbers(events)[entry[has]],
            index=index[has].astype(np.int64),
            center=np.stack([ref_row, ref_col], axis=1).astype(np.int64),
            dropped={"no_cell_above_threshold": int((~has).sum())},
            layer_names=LAYER_NAMES,
        )
