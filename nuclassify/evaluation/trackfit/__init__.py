"""Classical vertex-segment finders for MINERvA (no image network): the bar the CNNs must clear.

- :class:`TrackFit` (name ``trackfit``): per view it finds straight tracks with a Hough
  transform, matches the views by the stereo relation, takes the most upstream common point as
  the vertex (checked against detached upstream tracks and the main track's hit times), then
  weighs that call against each nearby segment's first lit plane with boosted decision trees
  fitted on simulated events (:mod:`._selector`, as Pandora selects among vertex candidates) and
  maps its z to a segment; an event with no clean hit gets the segments' prior.
- :class:`HoughFit` (name ``hough``): the original baseline, kept to measure the gain on the
  same events.
- :class:`TrackReco` (experimental): hits cleaned in time, 2D tracks per view matched in 3D,
  a Kalman fit per track with Highland scattering, an adaptive (annealed) vertex fit, vertex
  activity, and a segment from the fitted z with its uncertainty and a mass prior.

Use either like a model::

    fit = TrackFit(dataset.view_names, dataset.view_shapes)
    probabilities, z = fit.predict(views)
"""

from nuclassify.evaluation.trackfit._display import draw_reco_overlay
from nuclassify.evaluation.trackfit._predictor import HoughFit, TrackFit, TrackFitResult, segment_probabilities
from nuclassify.evaluation.trackfit._reco import RecoOptions, reconstruct_batch
from nuclassify.evaluation.trackfit._reco_predictor import TrackReco, TrackRecoResult

__all__ = ["TrackFit", "HoughFit", "TrackFitResult", "segment_probabilities", "TrackReco", "TrackRecoResult",
           "RecoOptions", "reconstruct_batch", "draw_reco_overlay"]
