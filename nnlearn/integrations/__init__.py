"""Framework callbacks, thin adapters over `nnlearn.Probe`: `nnlearn.integrations.lightning`
(PyTorch Lightning) and `nnlearn.integrations.transformers` (the Hugging Face Trainer). Each
module imports its framework, so it is importable only where that framework is installed."""
