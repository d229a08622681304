"""Detector geometry as data (MINERvA, NOvA): the bottom layer, it imports numpy and nuclassify.errors only."""

from nuclassify.detector import minerva, nova

__all__ = ["minerva", "nova"]
