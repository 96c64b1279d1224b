"""The experiment spec: YAML in, a validated `Spec` out (SPEC.md section 2)."""

from nnlearn.spec.load import apply_overrides, load_spec, parse_overrides
from nnlearn.spec.schema import Spec

__all__ = ["Spec", "apply_overrides", "load_spec", "parse_overrides"]
