"""Renderers: terminal (Rich), JSON, and the run folder. Torch-free."""
