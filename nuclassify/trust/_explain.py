"""Where in an event the evidence for a prediction lies: occlusion, saliency, integrated gradients.

Three attribution methods, each giving one map per view shaped as the view's (strips, planes)
image, positive where the pixels raise the explained class's score:

- **occlusion** (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks",
  arXiv 1311.2901): a window of pixels is set to zero (no hit) and the drop of the class's
  log-odds (or probability) is spread over the window; a pixel's value is the mean drop of the windows that
  cover it. It needs only a predict function, so it explains any run or exported ``.onnx``
  model. Only windows holding a hit are evaluated: zeroing empty pixels changes nothing.
- **saliency** (Simonyan, Vedaldi & Zisserman, arXiv 1312.6034): |d score / d pixel|, the
  largest over the channels (energy, time); unsigned.
- **integrated gradients** (Sundararajan, Taly & Yan, arXiv 1703.01365, eq. 1): (x − x′) times
  the mean gradient on the straight path from the baseline x′ to x, summed over channels, with
  x′ = 0 in the *raw* input space (an empty detector; the model's own input transform lies on
  the path) and a midpoint Riemann sum of :data:`IG_STEPS` steps. The maps sum to
  score(x) − score(x′) (completeness), which :attr:`Explanation.completeness_gap` reports.

Gradients (saliency, integrated gradients) need the Keras model, so they run on run directories
only; they differentiate the network's own probability, before any stored temperature.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nuclassify.errors import DataFileError, UsageError
from nuclassify.trust._gradients import input_gradients, score_function

__all__ = ["METHODS", "IG_STEPS", "OCCLUSION_WINDOW", "OCCLUSION_STRIDE", "Explanation", "Explainer",
           "load_explainer", "explain_event", "occlusion_maps", "saliency_maps", "integrated_gradients_maps",
           "near_vertex_fraction", "check_event_index"]

#: Attribution methods by their CLI names.
METHODS = ("occlusion", "integrated-gradients", "saliency")
#: Riemann steps of integrated gradients (Sundararajan et al. find 20-300 enough; completeness checks it).
IG_STEPS = 32
#: Occlusion window and stride in (strips, planes): about a track's width (a minimum-ionising
#: track lights 1-2 strips per plane, 7 strips = 115 mm leaves room for its angle) by two image
#: columns, so the maps resolve the vertex to a module or two along z.
OCCLUSION_WINDOW = (7, 2)
OCCLUSION_STRIDE = (3, 1)

#: What occlusion measures the drop of.
OCCLUSION_SCORES = ("log-odds", "probability")
#: A batch of views (file order) -> class probabilities (N, classes).
ProbaFn = Callable[[list[np.ndarray]], np.ndarray]


@dataclass
class Explanation:
    """One event explained: an attribution map per view and the prediction it explains.

    Attributes:
        maps: one float64 (H, W) map per view of the file, in the file's view order (zeros for a
            view the model does not read).
        probabilities: the predictor's class probabilities (temperature applied where stored).
        explained_class: the class whose score the maps explain (by default the predicted one).
        completeness_gap: integrated gradients only: |sum of maps − (score(x) − score(0))| relative
            to |score(x) − score(0)|; small means enough steps.
    """

    model: str
    data_path: str
    event: int
    event_id: int
    method: str
    view_names: list[str]
    maps: list[np.ndarray]
    probabilities: np.ndarray
    explained_class: int
    class_names: list[str]
    true_label: int | None = None
    true_z_mm: float | None = None
    completeness_gap: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def predicted(self) -> int:
        """The predicted class (argmax of the probabilities)."""
        return int(np.argmax(self.probabilities))

    def to_dict(self, with_maps: bool = False) -> dict:
        """Plain data for --json (the maps only when asked: they are large)."""
        out = {"model": self.model, "data": self.data_path, "event": self.event, "event_id": self.event_id,
               "method": self.method, "predicted": self.predicted,
               "predicted_name": self.class_names[self.predicted], "explained_class": self.explained_class,
               "true_label": self.true_label, "true_z_mm": self.true_z_mm,
               "probabilities": [float(p) for p in self.probabilities],
               "class_names": list(self.class_names),
               "attribution_sum": {v: float(m.sum()) for v, m in zip(self.view_names, self.maps, strict=True)},
               "completeness_gap": self.completeness_gap, "notes": list(self.notes)}
        if with_maps:
            out["maps"] = {v: m.tolist() for v, m in zip(self.view_names, self.maps, strict=True)}
        return out


def _starts(size: int, window: int, stride: int) -> list[int]:
    """Window starts covering 0..size-1 with the given stride, the last one flush with the end."""
    window = min(window, size)
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def log_odds(probabilities: np.ndarray, class_index: int) -> np.ndarray:
    """log p_c − log(1 − p_c) of each row, 1 − p_c summed from the other classes.

    Summing the others keeps the figure finite when p_c rounds to 1 in float32, which is just
    where the most confidently wrong events are: the probability itself then cannot drop.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    others = np.delete(p, class_index, axis=1).sum(axis=1)
    return np.log(np.maximum(p[:, class_index], 1e-300)) - np.log(np.maximum(others, 1e-300))


def occlusion_maps(predict: ProbaFn, views: Sequence[np.ndarray], class_index: int, *,
                   window: tuple[int, int] = OCCLUSION_WINDOW, stride: tuple[int, int] = OCCLUSION_STRIDE,
                   batch_size: int = 128, skip: Sequence[int] = (), score: str = "log-odds"
                   ) -> tuple[list[np.ndarray], np.ndarray]:
    """Occlusion maps of one event (Zeiler & Fergus, arXiv 1311.2901).

    Args:
        predict: a batch of views -> probabilities (N, classes).
        views: the event's views, each (H, W, C), in the order ``predict`` takes them.
        class_index: the class whose probability drop is measured.
        window, stride: occluding window and its step, in (rows, columns) = (strips, planes).
        batch_size: occluded copies per call of ``predict``.
        skip: positions of views not to occlude (the model does not read them): their maps are 0.
        score: what drops: ``"log-odds"`` (default, :func:`log_odds`: informative however sure
            the network is) or ``"probability"``.

    Returns:
        (maps, probabilities): one (H, W) float64 map per view (mean drop of the score over the
        windows covering each pixel; windows without a hit drop nothing), and the unoccluded
        probabilities (classes,).
    """
    if score not in OCCLUSION_SCORES:
        raise UsageError(f"unknown occlusion score {score!r} (expected one of {', '.join(OCCLUSION_SCORES)})")

    def value(p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        return log_odds(p, class_index) if score == "log-odds" else p[:, class_index]

    batch1 = [np.asarray(v, dtype=np.float32)[None] for v in views]
    probs = np.asarray(predict(batch1), dtype=np.float64)[0]
    p0 = value(probs[None])[0]
    maps = []
    for k, img in enumerate(batch1):
        h, w = img.shape[1:3]
        if k in skip:
            maps.append(np.zeros((h, w)))
            continue
        wh, ww = min(window[0], h), min(window[1], w)
        rows, cols = _starts(h, wh, stride[0]), _starts(w, ww, stride[1])
        hit = np.any(img[0] != 0, axis=-1)
        covered = np.zeros((h, w))
        for r in rows:
            for c in cols:
                covered[r:r + wh, c:c + ww] += 1
        places = [(r, c) for r in rows for c in cols if hit[r:r + wh, c:c + ww].any()]
        drop = np.zeros((h, w))
        for lo in range(0, len(places), batch_size):
            chunk = places[lo:lo + batch_size]
            occluded = np.repeat(img, len(chunk), axis=0)
            for j, (r, c) in enumerate(chunk):
                occluded[j, r:r + wh, c:c + ww] = 0
            batch = [occluded if i == k else np.repeat(v, len(chunk), axis=0) for i, v in enumerate(batch1)]
            p = value(predict(batch))
            for (r, c), d in zip(chunk, p0 - p, strict=True):
                drop[r:r + wh, c:c + ww] += d
        maps.append(drop / np.maximum(covered, 1))
    return maps, probs


def saliency_maps(model: Any, views: Sequence[np.ndarray], class_index: int, *, score: str = "probability"
                  ) -> list[np.ndarray]:
    """|d score / d pixel|, the largest over channels (Simonyan et al., arXiv 1312.6034), one map per input.

    ``views`` are the event's inputs (H, W, C) in the *model's* input order.
    """
    grads, _ = input_gradients(score_function(model, score), [np.asarray(v)[None] for v in views], class_index)
    return [np.abs(g[0]).max(axis=-1).astype(np.float64) for g in grads]


def integrated_gradients_maps(model: Any, views: Sequence[np.ndarray], class_index: int, *, steps: int = IG_STEPS,
                              score: str = "probability") -> tuple[list[np.ndarray], float, float]:
    """Integrated gradients from a zero baseline (Sundararajan et al., arXiv 1703.01365, eq. 1).

    ``views`` are the event's inputs (H, W, C) in the model's input order. The path integral is a
    midpoint Riemann sum: alpha = (k + 1/2) / steps, k = 0..steps-1, all steps in one batch.

    Returns:
        (maps, score at x, score at the baseline): the maps summed over channels; by completeness
        they sum to about score(x) − score(0).
    """
    if steps < 1:
        raise UsageError(f"integrated gradients need at least 1 step (received {steps})")
    fn = score_function(model, score)
    alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    xs = [np.asarray(v, dtype=np.float32) for v in views]
    path = [alphas.reshape((-1,) + (1,) * v.ndim) * v[None] for v in xs]
    grads, _ = input_gradients(fn, path, class_index)
    _, ends = input_gradients(fn, [np.stack([np.zeros_like(v), v]) for v in xs], class_index)
    maps = [(v * g.mean(axis=0)).sum(axis=-1).astype(np.float64) for v, g in zip(xs, grads, strict=True)]
    return maps, float(ends[1]), float(ends[0])


def check_event_index(dataset: Any, event: int) -> int:
    """``event`` as an int, or a one-line DataFileError naming the file and the valid range (exit 2)."""
    n = int(dataset.n_events)
    if not 0 <= int(event) < n:
        valid = f"0-{n - 1}" if n else "none: the file has no events"
        raise DataFileError(dataset.path, f"event {event} out of range (valid: {valid})")
    return int(event)


@dataclass
class Explainer:
    """A model ready to explain events of one data file.

    Attributes:
        spec: what was loaded (run directory, .keras or .onnx path).
        predictor: the library predictor (file-ordered views -> probabilities), as ``predict`` uses it:
            occlusion needs nothing else, so it explains whatever ``predict`` runs (ensembles too).
        view_names: the data file's views, in its order.
        score: what the gradient methods differentiate (``"probability"`` or ``"logit"``).
    """

    spec: str
    predictor: Any
    view_names: list[str]
    score: str = "probability"
    _models: list[Any] | None = None
    _order: list[int] | None = None

    def gradient_models(self, method: str) -> tuple[list[Any], list[int]]:
        """(Keras models, position in the file's views of each model input), loaded on first use.

        One model for a run directory or ``.keras`` file; every member for an ensemble. The
        ensemble's prediction is the mean of its members' probabilities, and saliency and
        integrated gradients are linear in the function they differentiate, so the ensemble's
        map is the mean of its members' maps (exactly so for ``score="probability"``; for
        ``"logit"`` it is the map of the members' mean logit).

        Raises:
            UsageError: the spec is an ONNX file (no gradients through onnxruntime).
        """
        from nuclassify.evaluation import is_onnx_path

        if is_onnx_path(self.spec):
            raise UsageError(f"--method {method} needs the network's gradients; {self.spec} is an exported ONNX "
                             "file: use --method occlusion, or give the run directory")
        if self._models is None:
            from nuclassify.evaluation import is_ensemble_dir, member_dirs
            from nuclassify.training import load_run

            runs = ([load_run(m) for m in member_dirs(self.spec)] if is_ensemble_dir(self.spec)
                    else [load_run(self.spec)])
            self._models = [run.model for run in runs]
            self._order = [self.view_names.index(v) for v in runs[0].meta["views"]]
        return list(self._models), list(self._order or [])

    def probabilities(self, views: list[np.ndarray]) -> np.ndarray:
        """Class probabilities (N, classes) of a batch of file-ordered views."""
        from nuclassify.evaluation._runner import split_output

        return split_output(self.predictor.fn(views))[0]

    def explain(self, views: Sequence[np.ndarray], method: str, class_index: int | None = None, *,
                window: tuple[int, int] = OCCLUSION_WINDOW, stride: tuple[int, int] = OCCLUSION_STRIDE,
                steps: int = IG_STEPS) -> tuple[list[np.ndarray], np.ndarray, int, float | None]:
        """(maps in file view order, probabilities, explained class, IG completeness gap) of one event.

        ``views`` are the event's images (H, W, C) in the file's order; ``class_index`` None
        explains the predicted class.
        """
        if method not in METHODS:
            raise UsageError(f"--method {method}: unknown (expected one of {', '.join(METHODS)})")
        probs = self.probabilities([np.asarray(v)[None] for v in views])[0]
        cls = int(np.argmax(probs)) if class_index is None else int(class_index)
        if method == "occlusion":
            maps, _ = occlusion_maps(self.probabilities, views, cls, window=window, stride=stride)
            return maps, probs, cls, None
        models, order = self.gradient_models(method)
        model_views = [views[i] for i in order]
        gap = None
        if method == "saliency":
            per_model = [saliency_maps(model, model_views, cls, score=self.score) for model in models]
        else:
            runs = [integrated_gradients_maps(model, model_views, cls, steps=steps, score=self.score)
                    for model in models]
            per_model = [maps for maps, _, _ in runs]
            at_x, at_0 = float(np.mean([r[1] for r in runs])), float(np.mean([r[2] for r in runs]))
        model_maps = [np.mean(maps_of_view, axis=0) for maps_of_view in zip(*per_model, strict=True)]
        if method != "saliency":
            total = sum(float(m.sum()) for m in model_maps)
            gap = abs(total - (at_x - at_0)) / max(abs(at_x - at_0), 1e-12)
        maps = [np.zeros(np.shape(v)[:2]) for v in views]
        for i, m in zip(order, model_maps, strict=True):
            maps[i] = m
        return maps, probs, cls, gap


def load_explainer(spec: str, dataset: Any, *, score: str = "probability") -> Explainer:
    """A run directory, ``.keras`` or ``.onnx`` file -> an :class:`Explainer` checked against ``dataset``.

    Raises:
        UsageError: a classical method (trackfit, hough, trackreco) is asked for: it is no network,
            and its evidence is the track it fits (``nuclassify show --reco`` draws it); or the
            model does not fit the file.
        RunDirError: the run is missing or damaged.
    """
    from nuclassify.evaluation import CLASSICAL, load_predictor

    if spec.lower() in CLASSICAL:
        raise UsageError(f"--model {spec}: a classical method, not a network; its evidence is the track it fits, "
                         "which 'nuclassify show --reco' draws. explain needs a run directory or an .onnx file")
    return Explainer(str(spec), load_predictor(str(spec), dataset), list(dataset.view_names), score)


def explain_event(explainer: Explainer, dataset: Any, event: int, method: str = "occlusion", *,
                  class_index: int | None = None, window: tuple[int, int] = OCCLUSION_WINDOW,
                  stride: tuple[int, int] = OCCLUSION_STRIDE, steps: int = IG_STEPS) -> Explanation:
    """Explain event ``event`` of ``dataset`` (an open :class:`nuclassify.data.Dataset`).

    Raises:
        DataFileError: ``event`` is out of range (the message names the file and the valid range).

    Example:
        >>> with open_dataset("test.h5") as ds:                                   # doctest: +SKIP
        ...     ex = explain_event(load_explainer("runs/eps", ds), ds, 86, "occlusion")
        >>> ex.predicted, [m.shape for m in ex.maps]                              # doctest: +SKIP
    """
    event = check_event_index(dataset, event)
    views = [v[0] for v in dataset.read_views([event])]
    maps, probs, cls, gap = explainer.explain(views, method, class_index, window=window, stride=stride, steps=steps)
    target = explainer.predictor.target
    true = int(dataset.labels(target, [event])[0]) if target in dataset.targets else None
    notes = [n for n in (explainer.predictor.note, explainer.predictor.warning) if n]
    if method != "occlusion" and explainer.predictor.temperature is not None:
        notes.append(f"the gradients are of the network's own {explainer.score}, before the temperature "
                     f"T={explainer.predictor.temperature:.3f} applied to the probabilities shown")
    return Explanation(explainer.predictor.name, str(dataset.path), event, int(dataset.event_ids([event])[0]),
                       method, list(dataset.view_names), maps, probs, cls, list(explainer.predictor.class_names),
                       true if true is not None and true >= 0 else None, true_vertex_z(dataset, event), gap, notes)


def true_vertex_z(dataset: Any, event: int) -> float | None:
    """The simulated vertex z (mm) of ``event``, or None where the file carries none."""
    for name in ("vtx_data/zs", "zs"):
        if name in dataset.truth_fields:
            z = float(dataset.read_truth(name, [event])[0])
            return z if z > 0 else None
    return None


def near_vertex_fraction(maps: Sequence[np.ndarray], view_names: Sequence[str], vertex_z_mm: float,
                         within_mm: float = 100.0) -> float:
    """Share of the positive attribution that lies in planes within ``within_mm`` of the vertex z.

    The question a vertex-segment classifier should answer from the upstream end of the tracks:
    a map whose evidence sits at the vertex puts most of its weight there. Plane z comes from
    the MINERvA geometry (:func:`nuclassify.detector.minerva.view_plane_z`); 100 mm is about
    two modules (module pitch 44.2 mm in the nuclear-target region).
    """
    from nuclassify.detector import minerva

    near = total = 0.0
    for name, m in zip(view_names, maps, strict=True):
        pos = np.clip(np.asarray(m, dtype=np.float64), 0, None)
        z = minerva.view_plane_z(name, pos.shape[1])
        column_weight = pos.sum(axis=0)[:len(z)]
        near += float(column_weight[np.abs(z - vertex_z_mm) <= within_mm].sum())
        total += float(column_weight.sum())
    return near / total if total > 0 else 0.0
