def build_layers_artifacts(*a, **k): raise NotImplementedError
def export_layers_model(*a, **k): raise NotImplementedError
