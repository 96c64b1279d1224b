"""Read a spec file: YAML (safe) -> overrides -> pydantic -> `Spec`, or a `SpecError`.

Errors name the file and the field path and, for unknown keys, suggest the closest known one.
"""

from __future__ import annotations

import difflib
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from nnlearn.errors import InputError, SpecError
from nnlearn.spec.schema import Spec

# limits of what a spec file may be: a spec is a few kilobytes of settings; anything far beyond
# these is a mistake (the wrong file) or hostile (an alias bomb), refused before it is expanded
MAX_SPEC_BYTES = 1 << 20  # 1 MiB
MAX_DEPTH = 50  # nesting of mappings and lists; PyYAML composes recursively
MAX_VALUES = 200_000  # scalars, lists and mappings after aliases are expanded


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-3` (YAML 1.1 calls it a string) as a float, and refuses
    what `safe_load` lets through: duplicate keys (YAML says they are an error, PyYAML keeps the
    last), nesting deeper than MAX_DEPTH (a RecursionError otherwise) and documents that expand
    to more than MAX_VALUES values through aliases ("billion laughs": a few lines of anchors
    that expand to 10**9 strings when anything walks the result)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._path: list[str] = []  # field path of the node being composed
        self._paths: dict[int, str] = {}  # mapping node -> its field path
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = self.anchors.get(event.anchor)
            if node is not None and id(node) not in self._sizes:  # still being composed
                raise _LimitError(
                    f"the alias *{event.anchor} refers to a value that contains it (a "
                    "recursive structure has no end)",
                    event.start_mark,
                    self.path,
                )
            return super().compose_node(parent, index)  # an anchored node, already counted
        # a mapping value is composed with its key node as `index`, a list item with its position
        if isinstance(index, yaml.ScalarNode):
            self._path.append(f".{index.value}")
        else:
            self._path.append(f"[{index}]" if isinstance(index, int) else "")
        try:
            if len(self._path) > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _LimitError(f"nested more than {MAX_DEPTH} levels deep", mark, self.path)
            node = super().compose_node(parent, index)
            size = 1 + sum(self._sizes.get(id(child), 1) for child in _children(node))
            if size > MAX_VALUES:
                raise _LimitError(
                    f"expands to more than {MAX_VALUES:,} values (aliases of aliases: "
                    "an alias bomb?); write the values out or use fewer aliases",
                    node.start_mark,
                    self.path,
                )
            self._sizes[id(node)] = size
            if isinstance(node, yaml.MappingNode):
                self._paths[id(node)] = self.path
            return node
        finally:
            self._path.pop()

    @property
    def path(self) -> str:
        path = "".join(self._path).lstrip(".")
        return path if len(path) <= 80 else path[:36] + " ... " + path[-36:]

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                    key_node, yaml.ScalarNode
                ):
                    continue  # `<<:` merges may be overridden; complex keys stay PyYAML's
                key = self.construct_object(key_node)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:
                    continue
                if first is not key_node.start_mark:
                    where = self._paths.get(id(node), "")
                    raise _LimitError(
                        f"duplicate key {key!r} on lines {first.line + 1} and "
                        f"{key_node.start_mark.line + 1} (YAML would silently keep the last "
                        "one); keep one of them",
                        key_node.start_mark,
                        f"{where}.{key}" if where else str(key),
                    )
        return super().construct_mapping(node, deep=deep)


class _LimitError(yaml.YAMLError):
    def __init__(self, problem: str, mark, field: str = ""):
        self.problem = problem
        self.problem_mark = mark
        self.field = field


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str, file: str | None = None) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, _LimitError):
            raise SpecError(file, [(exc.field, f"{where}{problem}")]) from None
        raise SpecError(file, [("", f"{where}not valid YAML ({problem})")]) from None
    except RecursionError:  # flow collections nested beyond what the parser's stack holds
        raise SpecError(file, [("", f"nested more than {MAX_DEPTH} levels deep")]) from None


def read_spec_text(path: Path) -> str:
    """The spec's text; only a regular file of at most MAX_SPEC_BYTES of UTF-8 (a device such
    as /dev/zero or a named pipe would never end or never start)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"spec file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read spec {path}: {exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"spec {path} is a folder; give the spec file (a .yaml) inside it")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"spec {path} is not a regular file (a device, pipe or socket); "
            "nnlearn reads specs from files only"
        )
    if info.st_size > MAX_SPEC_BYTES:
        raise InputError(
            f"spec {path} is {info.st_size:,} bytes; a spec is at most {MAX_SPEC_BYTES:,} "
            "bytes (is this the right file?)"
        )
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read spec {path}: {exc}") from None
    try:
        return raw.decode("utf-8-sig")  # a BOM (Windows editors) is not part of the text
    except UnicodeDecodeError as exc:
        raise InputError(
            f"spec {path} is not UTF-8 text (byte {exc.start}: {raw[exc.start : exc.start + 1]!r})"
        ) from None


def key_lines(text: str) -> dict[str, int]:
    """Dotted key path -> 1-based line of the key, from a walk over the YAML nodes (each node
    once: an alias is not walked again). {} when the text does not compose."""
    try:
        root = yaml.compose(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return {}
    out: dict[str, int] = {}
    seen: set[int] = set()
    stack = [("", root)]
    while stack:
        prefix, node = stack.pop()
        if not isinstance(node, yaml.MappingNode) or id(node) in seen:
            continue
        seen.add(id(node))
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            path = f"{prefix}.{key.value}" if prefix else str(key.value)
            out.setdefault(path, key.start_mark.line + 1)
            stack.append((path, value))
    return out


def resolve_interpolations(raw: dict, file: str | None) -> dict:
    """`${a.b}` anywhere in the spec resolved by OmegaConf (Hydra's resolution), against the
    whole spec, free values under `vars:`. OmegaConf is imported only when a `${` occurs.
    A reference that does not resolve is a spec error naming the field that holds it."""
    if not _has_interpolation(raw):
        return raw
    try:
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException
    except ImportError:
        raise SpecError(
            file, [("", '`${...}` interpolation needs omegaconf: pip install "nnlearn[hydra]"')]
        ) from None
    try:
        config = OmegaConf.create(raw)
        return OmegaConf.to_container(config, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as exc:
        where = getattr(exc, "full_key", None) or ""
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(file, [(str(where), f"interpolation: {message}")]) from None


def _has_interpolation(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(_has_interpolation(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_interpolation(v) for v in value)
    return False


def parse_overrides(items: list[str]) -> list[tuple[str, Any]]:
    """`a.b=value` strings -> (path, YAML-typed value)."""
    out = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {item!r}: expected dotted.key=value, e.g. optimizer.lr=0.01")
        if any(not part.strip() for part in key.split(".")):
            raise InputError(f"--set {item!r}: {key.strip()!r} has an empty part between dots")
        out.append((key.strip(), parse_yaml(raw, f"--set {key}") if raw.strip() else None))
    return out


def apply_overrides(raw: dict, overrides: list[tuple[str, Any]]) -> dict:
    for path, value in overrides:
        node = raw
        parts = path.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return raw


def load_spec(path: str | Path, overrides: list[tuple[str, Any]] | None = None) -> Spec:
    path = Path(path)
    text = read_spec_text(path)
    raw = parse_yaml(text, str(path))
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(
            str(path), [("", "the spec must be a mapping of sections (data, model, ...)")]
        )
    raw.setdefault("name", path.stem)
    raw = apply_overrides(raw, overrides or [])
    raw = resolve_interpolations(raw, str(path))
    spec = validate_mapping(raw, str(path))
    spec._base_dir = path.resolve().parent
    spec._key_lines = key_lines(text)
    if spec.data.path and spec.data.factory is None:
        spec.data.path = str((spec._base_dir / spec.data.path).resolve())
    check_rule_settings(spec, str(path))
    return spec


def validate_mapping(raw: dict, file: str | None) -> Spec:
    problems = _null_characters(raw)
    if problems:
        raise SpecError(file, problems)
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(file, [_describe(err) for err in exc.errors()]) from None
    from nnlearn.spec.limits import size_problems

    problems = size_problems(spec)
    if problems:
        raise SpecError(file, problems)
    return spec


def _null_characters(node: Any, path: str = "", limit: int = 5) -> list[tuple[str, str]]:
    """Strings holding NUL: no file name, column or callable may contain one (the OS refuses
    it, and it ends C strings in reports)."""
    found: list[tuple[str, str]] = []
    stack = [(path, node)]
    seen: set[int] = set()
    while stack and len(found) < limit:
        where, value = stack.pop()
        if isinstance(value, (dict, list)):
            if id(value) in seen:  # an alias: its values were checked where they are first
                continue
            seen.add(id(value))
        if isinstance(value, str) and "\0" in value:
            found.append((where, "holds a NUL character (\\0)"))
        elif isinstance(value, dict):
            for k, v in value.items():
                sub = f"{where}.{k}" if where else str(k)
                if isinstance(k, str) and "\0" in k:
                    found.append((sub.replace("\0", "\\0"), "key holds a NUL character"))
                stack.append((sub, v))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
    return found


def _describe(err: dict) -> tuple[str, str]:
    loc = [p for p in err["loc"] if not _is_union_tag(p)] or list(err["loc"])
    path = _dotted(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.5)
        msg = "unknown key"
        if hint:
            msg += f"; did you mean '{hint[0]}'?"
        elif known:
            msg += f" (known: {', '.join(sorted(known))})"
        return path, msg
    if kind == "missing":
        return path, "required field is missing"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        choices = re.findall(r"'([^']*)'", expected)
        hint = difflib.get_close_matches(str(err.get("input")), choices, n=1, cutoff=0.6)
        msg = f"{err.get('input')!r} is not one of {', '.join(choices)}"
        return path, msg + (f"; did you mean '{hint[0]}'?" if hint else "")
    msg = err["msg"].removeprefix("Value error, ")
    if "input" in err and kind not in ("value_error",) and not isinstance(err["input"], dict):
        msg += f" (got {err['input']!r})"
    return path, msg


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the union member's name in the location ("literal[...]", "LossSpec");
    # only the schema's own class names count, a user's key `A` or a rule id `G401` stays
    return isinstance(part, str) and (
        re.fullmatch(r"(literal|function-[a-z]+)\[.*\]", part) is not None
        or part in _section_names()
    )


def _section_names() -> set[str]:
    from nnlearn.spec.schema import Section

    names, todo = set(), [Section]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _dotted(loc: list) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _known_keys(loc: list) -> list[str]:
    model: type[BaseModel] | None = Spec
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        model = _model_of(field.annotation) if field else None
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items() if n != "kwargs"]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found:
            return found
    return None


def check_rule_settings(spec: Spec, file: str | None) -> None:
    """Rule ids in `probe.rules` must exist, and thresholds must be the rule's parameters."""
    from nnlearn.rules import registry

    rules = registry()
    problems = []
    for i, code in enumerate(spec.probe.rules.disable):
        if code not in rules:
            problems.append((f"probe.rules.disable[{i}]", _unknown_rule(code, rules)))
    for code, values in spec.probe.rules.thresholds.items():
        if code not in rules:
            problems.append((f"probe.rules.thresholds.{code}", _unknown_rule(code, rules)))
            continue
        params = rules[code].parameters()
        for key in values:
            if key not in params:
                hint = difflib.get_close_matches(key, list(params), n=1)
                known = (
                    f"did you mean '{hint[0]}'?"
                    if hint
                    else f"known: {', '.join(params) or 'none'}"
                )
                problems.append(
                    (
                        f"probe.rules.thresholds.{code}.{key}",
                        f"{code} has no threshold {key!r}; {known}",
                    )
                )
    if problems:
        raise SpecError(file, problems)


def _unknown_rule(code: str, rules: dict) -> str:
    hint = difflib.get_close_matches(code, list(rules), n=1)
    return f"no rule {code!r}" + (
        f"; did you mean '{hint[0]}'?" if hint else " (see `nnlearn rules`)"
    )
