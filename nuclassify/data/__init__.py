"""HDF5 data layer: schemas, writer, streaming reader, validation. Knows nothing of Keras."""

from nuclassify.data._sparse import MinervaBlock, NovaBlock, SparseImages

__all__ = ["SparseImages", "MinervaBlock", "NovaBlock"]
