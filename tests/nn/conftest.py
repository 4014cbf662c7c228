"""torch_geometric is the parity reference; importing it emits deprecation warnings from its
own code (torch.jit.script), which pytest's ``filterwarnings = error`` would turn into errors."""

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import torch_geometric.nn  # noqa: F401
