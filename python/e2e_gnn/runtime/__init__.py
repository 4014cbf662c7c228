"""Inference: the Tagger and its backends (no torch needed)."""

from e2e_gnn.runtime.tagger import Tagger

__all__ = ["Tagger"]
