"""Detector geometry as data (MINERvA, NOvA). Imports numpy only."""

from nuclassify.detector import minerva

__all__ = ["minerva"]
