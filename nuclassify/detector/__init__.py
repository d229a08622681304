"""Detector geometry as data (MINERvA, NOvA). Imports numpy only."""

from nuclassify.detector import minerva, nova

__all__ = ["minerva", "nova"]
