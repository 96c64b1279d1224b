"""Typed spec sections. Every field has a default except `data` and `model`.

In a section with `_target_` (Hydra's convention) the keys nnlearn does not own become the
callable's keyword arguments (`kwargs`); they are checked against its signature later, in
`nnlearn.targets`, before anything trains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

SYNTHETIC = ("blobs", "circles", "moons", "spirals", "xor", "linear", "sine", "images")
ACTIVATIONS = ("relu", "leaky_relu", "gelu", "tanh", "sigmoid", "elu", "silu")
INITS = ("default", "xavier", "kaiming", "normal", "zeros")
LOSSES = ("auto", "cross_entropy", "nll", "bce", "bce_with_logits", "mse", "l1", "huber")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
EXPERIMENTS = (
    "init_check",
    "overfit_batch",
    "lr_range",
    "shuffled_labels",
    "data_scaling",
    "baseline",
    "warmup",
)
TASKS = (
    "auto",
    "classification",
    "binary",
    "regression",
    "multilabel",
    "language_modeling",
    "token_classification",
)
SCHEDULERS = ("constant", "linear_warmup", "cosine", "step")


# upper bounds of fields that no probe needs beyond; a value past them is a typo or a fuzzer
MAX_STEPS = 10_000_000  # the budget ends any real probe long before
MAX_BUDGET_S = 86_400.0  # a day: a probe is minutes
MAX_LAYERS = 1_000
SEED_LIMIT = 2**32  # numpy's np.random.seed takes 0 <= seed < 2**32
MAX_HYPERPARAMETER = 1e10


class Section(BaseModel):
    # `.inf` is refused like NaN in every float field: lr, momentum, noise, budget_s, ...
    model_config = ConfigDict(extra="forbid", populate_by_name=False, allow_inf_nan=False)


class Targetable(Section):
    """A section that may name the user's callable with `_target_`."""

    factory: str | None = Field(default=None, alias="_target_")
    kwargs: dict[str, Any] = Field(default_factory=dict)

    # keys nnlearn keeps for itself even when `_target_` is given
    own_keys: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _split_kwargs(cls, value: Any) -> Any:
        if isinstance(value, dict) and "_target_" in value:
            value = dict(value)
            value["kwargs"] = {
                k: value.pop(k) for k in list(value) if k != "_target_" and k not in cls.own_keys
            }
        elif isinstance(value, dict) and "kwargs" in value:
            raise ValueError("'kwargs' is only set through the keys of a `_target_` section")
        return value


class CollateSpec(Targetable):
    """`data.collate_fn`: the collate every batch the probe draws is built with. A class
    (transformers' DataCollatorWithPadding, say) is instantiated with the other keys; a
    function is called as `fn(items, **keys)`."""

    @model_validator(mode="after")
    def _needs_target(self) -> CollateSpec:
        if self.factory is None:
            raise ValueError(
                "collate_fn needs a _target_ (module.path.collate or a collator class)"
            )
        return self


class DataSpec(Targetable):
    own_keys: ClassVar[frozenset[str]] = frozenset(
        {"task", "val_fraction", "batch_size", "standardize", "collate_fn"}
    )
    # own keys that are nnlearn's settings only, never passed on to the user's data callable
    private_keys: ClassVar[frozenset[str]] = frozenset({"collate_fn"})

    kind: Literal["synthetic", "csv", "parquet"] = "synthetic"
    name: Literal[SYNTHETIC] = "spirals"  # type: ignore[valid-type]
    n_samples: int = Field(2000, ge=8)
    n_classes: int = Field(3, ge=2)
    n_features: int | None = Field(None, ge=1)
    noise: float = Field(0.1, ge=0)
    path: str | None = None
    target: str | None = None
    features: list[str] | None = Field(None, min_length=1)
    task: Literal[TASKS] = "auto"  # type: ignore[valid-type]
    val_fraction: float = Field(0.2, gt=0, lt=1)
    batch_size: int = Field(64, ge=1)
    standardize: bool = False
    collate_fn: CollateSpec | None = None  # default: nnlearn.data.batch.PadCollate

    @model_validator(mode="after")
    def _tabular_needs_path(self) -> DataSpec:
        if self.factory is None and self.kind in ("csv", "parquet"):
            missing = [k for k in ("path", "target") if getattr(self, k) is None]
            if missing:
                raise ValueError(
                    f"data.kind {self.kind} needs {' and '.join(missing)}"
                    " (path: the file; target: the label column)"
                )
        return self


class ModelSpec(Targetable):
    kind: Literal["mlp", "cnn"] = "mlp"
    hidden: list[int] = Field(default_factory=lambda: [64, 64], max_length=MAX_LAYERS)
    activation: Literal[ACTIVATIONS] = "relu"  # type: ignore[valid-type]
    init: Literal[INITS] = "default"  # type: ignore[valid-type]
    init_std: float = Field(0.01, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    batchnorm: bool = False

    @field_validator("hidden")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(h < 1 for h in v):
            raise ValueError("hidden sizes must be positive integers")
        return v


class LossSpec(Targetable):
    """A loss given as `{_target_: ...}`; a plain name stays a string in `Spec.loss`."""


class OptimizerSpec(Targetable):
    own_keys: ClassVar[frozenset[str]] = frozenset({"grad_clip"})

    name: Literal[OPTIMIZERS] = "adam"  # type: ignore[valid-type]
    # at most MAX_HYPERPARAMETER: torch keeps these as float32 inside some optimizers and
    # raises on overflow; far above any rate worth diagnosing (the lr_too_high example uses 50)
    lr: float = Field(0.001, ge=0, le=MAX_HYPERPARAMETER)
    momentum: float = Field(0.0, ge=0, le=MAX_HYPERPARAMETER)
    weight_decay: float = Field(0.0, ge=0, le=MAX_HYPERPARAMETER)
    grad_clip: float | None = Field(None, gt=0)


class TrainStepSpec(Targetable):
    """The user's own step, Lightning's `training_step` shape: `step(model, batch) -> loss` or
    `-> (loss, outputs)`; other keys are its keyword arguments (bound before the call)."""

    @model_validator(mode="after")
    def _needs_target(self) -> TrainStepSpec:
        if self.factory is None:
            raise ValueError("train_step needs a _target_ (module.path.step_function)")
        return self


class SchedulerSpec(Targetable):
    """A learning-rate schedule stepped once per optimizer step: a builtin by `name`, or a
    `_target_` called with the optimizer first (e.g. transformers'
    get_linear_schedule_with_warmup with num_warmup_steps / num_training_steps)."""

    name: Literal[SCHEDULERS] = "constant"  # type: ignore[valid-type]
    warmup_steps: int = Field(0, ge=0)  # linear_warmup, cosine: steps of linear warmup from 0
    total_steps: int | None = Field(None, ge=1)  # cosine: decay length (default probe.steps)
    min_lr_ratio: float = Field(0.0, ge=0, le=1)  # cosine: final rate / initial rate
    step_size: int = Field(100, ge=1)  # step: multiply the rate by gamma every step_size steps
    gamma: float = Field(0.1, gt=0)


class RulesSpec(Section):
    disable: list[str] = Field(default_factory=list)
    thresholds: dict[str, dict[str, Annotated[float, Field(allow_inf_nan=False)]]] = Field(
        default_factory=dict
    )


class ProbeSpec(Section):
    steps: int = Field(500, ge=1, le=MAX_STEPS)
    budget_s: float = Field(60.0, gt=0, le=MAX_BUDGET_S)
    eval_every: int = Field(25, ge=1)
    experiments: list[Literal[EXPERIMENTS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: [
            "init_check",
            "overfit_batch",
            "lr_range",
            "shuffled_labels",
            "warmup",
        ]
    )
    rules: RulesSpec = Field(default_factory=RulesSpec)


class Spec(Section):
    name: str = "probe"
    seed: int = Field(0, ge=0, lt=SEED_LIMIT)
    device: str = "auto"
    data: DataSpec
    model: ModelSpec
    loss: Literal[LOSSES] | LossSpec = "auto"  # type: ignore[valid-type]
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    train_step: TrainStepSpec | None = None
    scheduler: SchedulerSpec | None = None
    probe: ProbeSpec = Field(default_factory=ProbeSpec)
    # free values for `${vars.x}` interpolation (resolved when the spec is loaded)
    vars: dict[str, Any] = Field(default_factory=dict)

    # the spec file's folder: relative paths and `_target_` modules resolve against it
    _base_dir: Path | None = PrivateAttr(default=None)
    # dotted key path -> 1-based line in the spec file (GitHub annotations point at it)
    _key_lines: dict[str, int] = PrivateAttr(default_factory=dict)

    @property
    def key_lines(self) -> dict[str, int]:
        return self._key_lines

    def to_mapping(self) -> dict:
        """The resolved spec as the YAML mapping that loads back to it (`_target_` sections
        with their keyword arguments inline again)."""
        data = self.model_dump(by_alias=True, mode="json")
        for key in ("data", "model", "loss", "optimizer", "train_step", "scheduler"):
            section = data.get(key)
            if not isinstance(section, dict):
                continue
            kwargs = section.pop("kwargs", {})
            if section.get("_target_") is None:
                section.pop("_target_", None)
            else:
                own = type(getattr(self, key)).own_keys
                data[key] = {
                    "_target_": section["_target_"],
                    **{k: v for k, v in section.items() if k in own},
                    **kwargs,
                }
        collate = data.get("data", {}).get("collate_fn")
        if isinstance(collate, dict) and "kwargs" in collate:
            data["data"]["collate_fn"] = {"_target_": collate["_target_"], **collate["kwargs"]}
        return data

    @field_validator("name")
    @classmethod
    def _printable(cls, v: str) -> str:
        bad = next((c for c in v if ord(c) < 32 or ord(c) == 127), None)
        if bad is not None:
            raise ValueError(f"must be printable text; it holds the control character {bad!r}")
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", v):
            raise ValueError("must be auto, cpu, cuda or cuda:N")
        return v
