"""HDF5 data layer: schemas, writers, streaming reader, validation. Knows nothing of Keras.

Layouts (detected from file contents, documented field by field in data/README.md):
MINERvA 2018 grouped and 2016 flat (dense experiment images or the project's sparse hit
lists), NOvA CVN pixel maps, and generic labelled images. Every file the writers make records
how it was made (the ``nuclassify_provenance`` attribute; ``Dataset.provenance`` reads it).
"""

from nuclassify.data._display import draw_event
from nuclassify.data._order import split_indices
from nuclassify.data._provenance import creation_time
from nuclassify.data._reader import Dataset, open_dataset
from nuclassify.data._samples import SAMPLES, describe_sample, sample_indices
from nuclassify.data._summary import format_summary, summarize
from nuclassify.data._validate import validate_pixels
from nuclassify.data._writer import write_images, write_minerva, write_nova
from nuclassify.events import MinervaBlock, NovaBlock, SparseImages

__all__ = [
    "SparseImages", "MinervaBlock", "NovaBlock",
    "write_minerva", "write_nova", "write_images",
    "open_dataset", "Dataset", "split_indices",
    "validate_pixels", "summarize", "format_summary", "draw_event", "creation_time",
    "SAMPLES", "sample_indices", "describe_sample",
]
