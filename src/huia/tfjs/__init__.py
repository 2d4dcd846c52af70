"""huia.tfjs: read, run, fine-tune, quantize and write TensorFlow.js models with PyTorch, no TensorFlow needed."""

from huia.tfjs.artifacts import (DEFAULT_SHARD_BYTES, ModelArtifacts, load_artifacts, quantize_array,
                                 save_artifacts)

__all__ = ["DEFAULT_SHARD_BYTES", "ModelArtifacts", "load_artifacts", "save_artifacts", "quantize_array"]
