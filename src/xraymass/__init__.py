"""xraymass: mock Chandra observations of simulated clusters and CNN mass estimates."""
import os

# Horovod's Keras binding needs the Keras 2 API (tf_keras); set before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
