"""The track-based baseline ("previous methods"): a classical, unlearned vertex-segment finder.

Per view it finds straight tracks with a Hough transform, matches the views by the stereo
relation, takes the most upstream common point as the vertex and maps its z to a segment.
It is the bar the CNNs must clear. Use it like a model::

    fit = TrackFit(dataset.view_names, dataset.view_shapes)
    probabilities, z = fit.predict(views)
"""

from nuclassify.evaluation.trackfit._predictor import TrackFit, TrackFitResult, segment_probabilities

__all__ = ["TrackFit", "TrackFitResult", "segment_probabilities"]
