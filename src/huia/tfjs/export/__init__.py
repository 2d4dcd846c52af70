"""Export PyTorch modules to TensorFlow.js: graph models (``tf.loadGraphModel``, for inference) and layers models
(``tf.loadLayersModel``, which TF.js can keep training). No TensorFlow involved."""

from huia.tfjs.export.graph import (append_graph_head, build_graph_artifacts, export_graph_model,
                                   prepend_graph_module, prune_graph)
from huia.tfjs.export.layers import build_layers_artifacts, export_layers_model

__all__ = ["export_graph_model", "export_layers_model", "build_graph_artifacts", "build_layers_artifacts",
           "append_graph_head", "prepend_graph_module", "prune_graph"]
