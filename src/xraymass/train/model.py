"""The paper's CNN (Ntampaka et al. 2019, section 2.3): `build_model(npix, **cfg.model)`.

conv 3x3/16 -> maxpool 2 -> conv 3x3/32 -> maxpool 2 -> conv 3x3/64 -> maxpool 2 -> global average
pooling -> dropout 0.1 -> dense 200 -> dropout 0.1 -> dense 100 -> dense 20 -> dense 1 (linear), ReLU:
58,437 trainable parameters whatever the stamp size. The model takes raw counts: its first layer,
`CountScaling` (no weights), applies the configured input scaling, so a saved model predicts from
stamps as stored.

`precision` (`model.precision`): "float32" (the paper), or a Keras mixed policy for the layers
between the scaling and the output: "mixed_bfloat16" (CPUs with AVX-512 BF16 or AMX, and GPUs from
NVIDIA Ampere on) or "mixed_float16" (older GPUs; the stage then scales the loss). Weights stay
float32, and the input scaling and the output unit compute in float32, so the parameter count and
the float32 predictions of a saved model do not depend on the policy it was trained with. Load a saved model after `import xraymass.train.model` (it registers the layer).
TensorFlow is imported here: import this module only inside functions of the stage.
"""
from __future__ import annotations

import xraymass  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

import tensorflow as tf
import tf_keras

PAPER_TRAINABLE_PARAMETERS = 58_437
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@tf_keras.saving.register_keras_serializable(package="xraymass")
class CountScaling(tf_keras.layers.Layer):
    """Photon counts -> network input: log1p (log(1 + N)), asinh, or none (counts as they are)."""

    def __init__(self, scaling: str = "log1p", **kwargs):
        super().__init__(**kwargs)
        if scaling not in ("log1p", "asinh", "none"):
            raise ValueError(f"unknown input scaling {scaling!r}")
        self.scaling = scaling

    def call(self, counts):
        counts = tf.cast(counts, self.compute_dtype)
        if self.scaling == "log1p":
            return tf.math.log1p(counts)
        if self.scaling == "asinh":
            return tf.math.asinh(counts)
        return counts

    def get_config(self):
        return {**super().get_config(), "scaling": self.scaling}


def build_model(npix: int, filters: list[int], kernel_size: int, pool_size: int, dense: list[int],
                dropout: float, padding: str, input_scaling: str, output_bias: float = 0.0,
                seed: int | None = None, precision: str = "float32", channels: int = 1) -> tf_keras.Sequential:
    """The paper's network on npix x npix count stamps; output: log10(M500c / Msun).

    output_bias: the initial bias of the output unit (the stage passes the mean training label
    or zero, per `model.output_bias`). seed: seeds the dropout layers' random streams.
    precision: "float32", "mixed_bfloat16" or "mixed_float16" (see the module docstring).
    channels: energy bands per stamp (1: the paper's single band; `stamps.bands` gives more, and
    only the first convolution's weights grow: 9 x (channels - 1) x filters[0] more parameters).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
    body = tf_keras.mixed_precision.Policy(precision)
    layers = [tf_keras.Input(shape=(npix, npix, channels), name="counts"),
              CountScaling(input_scaling, name="scaling", dtype="float32")]
    for i, n in enumerate(filters):
        layers += [tf_keras.layers.Conv2D(n, kernel_size, padding=padding, activation="relu", name=f"conv{i + 1}",
                                          dtype=body),
                   tf_keras.layers.MaxPooling2D(pool_size, name=f"pool{i + 1}", dtype=body)]
    layers += [tf_keras.layers.GlobalAveragePooling2D(name="gap", dtype=body),
               tf_keras.layers.Dropout(dropout, seed=seed, name="dropout1", dtype=body)]
    for i, n in enumerate(dense):
        layers.append(tf_keras.layers.Dense(n, activation="relu", name=f"dense{i + 1}", dtype=body))
        if i == 0:
            layers.append(tf_keras.layers.Dropout(dropout, seed=None if seed is None else seed + 1, name="dropout2",
                                                  dtype=body))
    layers.append(tf_keras.layers.Dense(1, name="log_m500c", dtype="float32",
                                        bias_initializer=tf_keras.initializers.Constant(output_bias)))
    return tf_keras.Sequential(layers, name="ntampaka2019")


def bfloat16_is_native() -> bool:
    """True on a GPU, or on a Linux CPU whose flags include AVX-512 BF16 or AMX BF16; elsewhere
    TensorFlow emulates bfloat16, which trains slower than float32."""
    if tf.config.list_physical_devices("GPU"):
        return True
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def trainable_parameters(model: tf_keras.Model) -> int:
    return int(sum(tf.size(w).numpy() for w in model.trainable_weights))
