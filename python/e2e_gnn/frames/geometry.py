"""Barrel detector geometry shared by every frame producer (the single source of numbers).

Conventions (CMS-barrel-like, "e2e_gnn generator schema v1"):

- acceptance |eta| < 1.479 (170 ECAL crystal rows of 0.0174);
- ECAL cells 0.0174 in eta x 2 pi / 360 in phi: ``ieta = floor(eta / 0.0174)`` in [-85, 84],
  ``iphi = floor((phi mod 2 pi) / (2 pi / 360))`` in [0, 360) (iphi 0 starts at phi = 0, as
  the generator writes ``Hit_iphi``);
- HCAL towers 5 x 5 ECAL cells: ``ieta`` in [-17, 16], ``iphi`` in [0, 72);
- 3 ECAL and 3 HCAL depth layers, 4 barrel pixel layers.

Because pi is a whole number of cells (180 ECAL, 36 HCAL) the phi cell boundaries are the same
whether phi is counted from -pi or from 0; producers place cells from their eta/phi (cell
centres), so they do not depend on which iphi origin a file uses (checked: on generated
files ``ecal_row(eta) - 85 == Hit_ieta`` and ``ecal_col(phi) == Hit_iphi`` for every cell).

Frames use "ECAL units": ``row = ieta + 85`` in [0, 170), ``col = iphi`` in [0, 360); an
HCAL tower (ieta_h, iphi_h) covers rows ``5 * (ieta_h + 17) + [0, 5)`` and cols
``5 * iphi_h + [0, 5)``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "BARREL_ETA_MAX",
    "ECAL_DETA",
    "ECAL_DPHI",
    "ECAL_LAYERS",
    "ECAL_NETA",
    "ECAL_NPHI",
    "HCAL_DETA",
    "HCAL_DPHI",
    "HCAL_LAYERS",
    "HCAL_NETA",
    "HCAL_NPHI",
    "HCAL_UPSAMPLE",
    "PIXEL_LAYERS",
    "cell_centre",
    "delta_phi",
    "ecal_col",
    "ecal_row",
    "hcal_col",
    "hcal_row",
]

BARREL_ETA_MAX = 1.479

ECAL_DETA = 0.0174
ECAL_NETA = 170  # ieta in [-85, 84]
ECAL_NPHI = 360
ECAL_DPHI = 2.0 * math.pi / ECAL_NPHI  # 0.01745
ECAL_LAYERS = 3

HCAL_UPSAMPLE = 5  # HCAL tower = 5 x 5 ECAL cells
HCAL_DETA = HCAL_UPSAMPLE * ECAL_DETA  # 0.087
HCAL_NETA = ECAL_NETA // HCAL_UPSAMPLE  # 34: ieta in [-17, 16]
HCAL_NPHI = ECAL_NPHI // HCAL_UPSAMPLE  # 72
HCAL_DPHI = 2.0 * math.pi / HCAL_NPHI
HCAL_LAYERS = 3

PIXEL_LAYERS = 4


def delta_phi(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """a - b wrapped into [-pi, pi)."""
    return (np.asarray(a) - b + np.pi) % (2.0 * np.pi) - np.pi


def ecal_row(eta: np.ndarray) -> np.ndarray:
    """ECAL row (ieta + 85) of each eta; values outside [0, 170) are outside the barrel."""
    return np.floor(np.asarray(eta, dtype=np.float64) / ECAL_DETA).astype(np.int64) + (
        ECAL_NETA // 2
    )


def ecal_col(phi: np.ndarray) -> np.ndarray:
    """ECAL column (iphi) of each phi, in [0, 360) for any phi (wraps around)."""
    turn = np.mod(np.asarray(phi, dtype=np.float64), 2.0 * np.pi)
    return np.floor(turn / ECAL_DPHI).astype(np.int64) % ECAL_NPHI


def hcal_row(eta: np.ndarray) -> np.ndarray:
    """HCAL row (ieta + 17) of each eta: the ECAL row // 5, so the two grids always nest."""
    return ecal_row(eta) // HCAL_UPSAMPLE


def hcal_col(phi: np.ndarray) -> np.ndarray:
    """HCAL column (iphi) of each phi, in [0, 72): the ECAL column // 5."""
    return ecal_col(phi) // HCAL_UPSAMPLE


def cell_centre(
    ieta: np.ndarray, iphi: np.ndarray, subdet: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(eta, phi) of cell centres from indices (subdet 0 ECAL crystals, 1 HCAL towers), phi
    in [-pi, pi): for files that store cell indices but no positions."""
    hcal = np.asarray(subdet) == 1
    deta = np.where(hcal, HCAL_DETA, ECAL_DETA)
    dphi = np.where(hcal, HCAL_DPHI, ECAL_DPHI)
    eta = (np.asarray(ieta, dtype=np.float64) + 0.5) * deta
    phi = delta_phi((np.asarray(iphi, dtype=np.float64) + 0.5) * dphi, 0.0)
    return eta.astype(np.float32), phi.astype(np.float32)
