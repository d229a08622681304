"""Custom Keras layers used by specs, registered so that saved models load back.

Imported lazily (by :func:`nuclassify.models.build` and by model loading) so that importing
:mod:`nuclassify.models` never imports Keras.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["SignedLog1p", "GradientReversal", "INPUT_TRANSFORMS"]


@keras.saving.register_keras_serializable(package="nuclassify")
class SignedLog1p(keras.layers.Layer):
    """``sign(x) * log(1 + |x|)``, elementwise, with no weights.

    Detector images mix scales badly: energies of 0.1-100 MeV and hit times of -50 to 16,000 ns
    (late Michel decays) in the same tensor, and NOvA pixel maps in raw 0-255 counts. Fed raw,
    the first convolutions start with huge activations and training stalls. The signed log keeps
    empty pixels at exactly zero, keeps the sign of early hit times, and compresses every channel
    to a few units, so no per-file statistics are needed and a saved model carries its own
    preprocessing (``predict`` on a raw file just works).

    Written as ``log(1 + |x|)`` rather than ``log1p``: TensorFlow's ``Log1p`` op has no ONNX
    counterpart in tf2onnx (https://github.com/onnx/tensorflow-onnx, ``support_status.md``), so a
    model holding it cannot be exported. The two differ by at most half a float32 ulp of 1
    (6e-8) in absolute terms, for |x| below about 1e-7, far below anything a detector records.
    """

    def call(self, inputs):  # noqa: D102 - Keras API
        return ops.sign(inputs) * ops.log(1.0 + ops.abs(inputs))

    def compute_output_shape(self, input_shape):  # noqa: D102 - Keras API
        return input_shape


@keras.saving.register_keras_serializable(package="nuclassify")
class GradientReversal(keras.layers.Layer):
    """Identity on the way forward, ``-scale`` times the gradient on the way back; no weights.

    The gradient-reversal layer of domain-adversarial training (Ganin et al., "Domain-Adversarial
    Training of Neural Networks", JMLR 17 (2016) 59, arXiv 1505.07818, eq. 12), as MINERvA used it
    for vertex finding (Perdue et al., arXiv 1808.08332). Put between the features and a domain
    classifier, it lets that classifier learn to tell the domains apart while pushing the features
    the other way, towards features the classifier cannot tell apart.

    ``keras.ops.custom_gradient`` hands the gradient function ``upstream`` positionally on
    TensorFlow and JAX but as a keyword (after the saved inputs) on PyTorch, so the gradient
    function takes both forms (the portable pattern of the Keras 3 ``custom_gradient`` docstring).
    """

    def __init__(self, scale: float = 1.0, ramp_steps: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = float(scale)
        self.ramp_steps = int(ramp_steps)
        self.step = None

    def build(self, input_shape):  # noqa: D102 - Keras API
        if self.ramp_steps > 0:  # the training steps seen so far, saved with the model (resume continues the ramp)
            self.step = self.add_weight(shape=(), initializer="zeros", trainable=False, name="step")
        super().build(input_shape)

    def reversal_weight(self) -> object:
        """The weight lambda of the reversed gradient now: ``scale``, times Ganin's ramp if it has one.

        The ramp is Ganin et al.'s schedule (JMLR 17 (2016) 59, section 5.2.2),
        ``lambda_p = 2 / (1 + exp(-10 p)) - 1`` with ``p`` the fraction of the ``ramp_steps``
        training steps done. Why: at the start the domain classifier knows nothing, so its
        reversed gradient is noise that only disturbs the features; the ramp lets the class
        features form first and brings the adversary in gradually.
        """
        if self.step is None:
            return ops.convert_to_tensor(self.scale, "float32")
        progress = ops.minimum(ops.cast(self.step, "float32") / float(self.ramp_steps), 1.0)
        return self.scale * (2.0 / (1.0 + ops.exp(-10.0 * progress)) - 1.0)

    def call(self, inputs, training=None):  # noqa: D102 - Keras API
        lam = ops.cast(self.reversal_weight(), inputs.dtype)
        if training and self.step is not None:
            self.step.assign_add(1.0)

        @ops.custom_gradient
        def reverse(x, weight):
            def grad(*args, upstream=None):
                if upstream is None:
                    (upstream,) = args
                return ops.multiply(upstream, -weight), ops.zeros_like(weight)

            return ops.multiply(x, ops.cast(1.0, x.dtype)), grad  # a new tensor: torch's Function needs one

        return reverse(inputs, ops.stop_gradient(lam))

    def compute_output_shape(self, input_shape):  # noqa: D102 - Keras API
        return input_shape

    def get_config(self) -> dict:  # noqa: D102 - Keras API
        return {**super().get_config(), "scale": self.scale, "ramp_steps": self.ramp_steps}


INPUT_TRANSFORMS = {"none": None, "log1p": SignedLog1p}
