"""huia.tfjs: read, run, fine-tune, quantize and write TensorFlow.js models with PyTorch, no TensorFlow needed."""

from huia.tfjs.artifacts import (DEFAULT_SHARD_BYTES, ModelArtifacts, load_artifacts, quantize_array,
                                 save_artifacts)

__all__ = ["DEFAULT_SHARD_BYTES", "ModelArtifacts", "load_artifacts", "save_artifacts", "quantize_array"]


def __getattr__(name):
    """`huia.tfjs.load_graph_model` and `GraphModel` without making `import huia.tfjs` import torch."""
    if name in ("load_graph_model", "GraphModel"):
        from huia.tfjs import graph

        return getattr(graph, name)
    raise AttributeError(f"module 'huia.tfjs' has no attribute {name!r}")
