"""Reading a scenario file: a safe YAML loader, ``extends:`` chains merged, validation,
cross-references, and run-setting overrides.
"""

from __future__ import annotations

import copy
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sim.numerics import lifetable
from sim.scenario import prices
from sim.scenario.messages import (
    MISSING,
    ScenarioError,
    did_you_mean,
    from_validation_error,
    short,
)
from sim.scenario.references import check_analysis, check_calibration, check_references, lookup
from sim.scenario.schema import Scenario

# ---------------------------------------------------------------------------- loading


class _SafeLoader(yaml.SafeLoader):
    """Safe loader that refuses duplicate keys (a silent overwrite is a typo's hiding place)."""


def _construct_mapping(loader: _SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}: each key may appear once", mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_SafeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _FastLoader(getattr(yaml, "CSafeLoader", _SafeLoader)):  # type: ignore[misc]
    """The same constructors on libyaml's parser (ten times faster). A file it refuses is
    read again by _SafeLoader, so that an error reads as PyYAML's own parser words it."""


_FastLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_FastLoader)
    except Exception:  # the message (or the refusal) of the pure-Python parser
        return yaml.load(text, Loader=_SafeLoader)


#: The largest scenario file read (a scenario is a few kilobytes).
MAX_FILE_BYTES = 1_000_000


def read_yaml(path: Path) -> dict[str, Any]:
    """One YAML file as a mapping, or a ScenarioError naming the line and column. Only a
    regular file is read (a device or a pipe could block for ever), and at most
    MAX_FILE_BYTES of it."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError(path, "", "not a regular file (a device or a pipe): give a file")
        if info.st_size > MAX_FILE_BYTES:
            raise ScenarioError(
                path,
                "",
                f"{info.st_size:,} bytes: a scenario file may hold at most {MAX_FILE_BYTES:,}",
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(path, "", "file not found") from None
    except IsADirectoryError:
        raise ScenarioError(path, "", "is a directory, not a scenario file") from None
    except OSError as exc:
        raise ScenarioError(path, "", f"cannot read: {exc.strerror}") from None
    if b"\x00" in raw:
        raise ScenarioError(path, "", "binary content: a scenario is a UTF-8 YAML text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            path, "", f"not UTF-8 text (byte {exc.start}): save the file as UTF-8"
        ) from None
    try:
        data = _parse(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if exc.context and exc.context_mark and exc.problem:  # e.g. where a bracket opened
            problem += f" ({exc.context.strip()} opened at line {exc.context_mark.line + 1})"
        kind = "YAML syntax error"
        if "could not determine a constructor" in problem:
            tag = problem.split("for the tag ", 1)[-1].strip("'")
            tag = tag.replace("tag:yaml.org,2002:", "!!")
            kind, problem = "YAML tag not allowed", f"{tag}: a scenario holds plain values only"
        raise ScenarioError(path, "", f"{kind} at {where}{problem}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise ScenarioError(
            path,
            "",
            f"YAML syntax error at line {line}, column {column}: control character "
            f"#x{exc.character:04x} is not allowed in a scenario file",
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(path, "", "YAML error: " + " ".join(str(exc).split())) from None
    except RecursionError:
        raise ScenarioError(path, "", TOO_DEEP) from None
    depth = _depth(data)
    if depth is None:
        raise ScenarioError(
            path,
            "",
            "a YAML alias refers to a mapping or list that holds it: it would nest without end",
        )
    if depth > MAX_DEPTH:
        raise ScenarioError(path, "", TOO_DEEP)
    unwritable = _unencodable(data)
    if unwritable is not None:
        where, value = unwritable
        raise ScenarioError(
            path,
            where,
            f"{short(value)}: holds a lone surrogate (an escape such as \\ud800 that is no "
            "character): no result file could hold it; remove the escape",
        )
    if data is None:
        raise ScenarioError(path, "", "empty file: a scenario is a YAML mapping of keys")
    if not isinstance(data, dict):
        raise ScenarioError(
            path, "", f"top level is a {type(data).__name__}: a scenario is a mapping of keys"
        )
    return data


#: How many files an extends chain may hold (each a frame of recursion; 3 in practice).
MAX_EXTENDS = 64
#: How deeply a scenario's mappings and lists may nest (the deepest real key has 7 levels).
MAX_DEPTH = 32
TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep: a scenario's keys go a few levels down"


def _depth(node: Any) -> int | None:
    """How deeply mappings and lists nest in `node`, or None when one holds itself (a
    recursive YAML alias). Depth first without recursion, each node once however many
    aliases share it, so that an alias bomb costs what its text does, not the hundreds of
    millions of nodes it stands for."""
    heights: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the path from the top to the node being walked
    todo: list[tuple[Any, bool]] = [(node, False)]
    while todo:
        item, finished = todo.pop()
        if not isinstance(item, dict | list):
            continue
        key = id(item)
        children = item.values() if isinstance(item, dict) else item
        if finished:
            open_nodes.discard(key)
            heights[key] = 1 + max(
                (heights[id(c)] for c in children if isinstance(c, dict | list)), default=0
            )
        elif key in open_nodes:
            return None
        elif key not in heights:
            open_nodes.add(key)
            todo.append((item, True))
            todo += [(c, False) for c in children]
    return heights.get(id(node), 0)


def _unencodable(node: Any) -> tuple[str, str] | None:
    """The first text (key or value) that UTF-8 cannot encode, with its key path: a YAML
    escape of a lone surrogate reads, but would fail the run once its results are written.
    Each node once, however many aliases share it."""
    seen: set[int] = set()
    todo: list[tuple[str, Any]] = [("", node)]
    while todo:
        where, item = todo.pop()
        texts = [item] if isinstance(item, str) else []
        if isinstance(item, dict | list) and id(item) not in seen:
            seen.add(id(item))
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, value in pairs:
                inner = f"{where}.{key}" if where else str(key)
                texts += [key] if isinstance(key, str) else []
                todo.append((inner, value))
        for text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return where or "", text
    return None


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Override's keys win; mappings merge recursively; a list replaces a list; a null
    removes the inherited key (e.g. an indication a variant leaves out). A distribution
    of another kind (its `dist:` differs) replaces the inherited one whole: the parent's
    parameters (a weibull's shape under an exponential) would not fit it."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        inherited = merged.get(key)
        if value is None and key in merged:
            del merged[key]
        elif isinstance(value, dict) and isinstance(inherited, dict):
            if "dist" in value and value["dist"] != inherited.get("dist"):
                merged[key] = {k: copy.deepcopy(v) for k, v in value.items() if v is not None}
            else:
                merged[key] = deep_merge(inherited, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve(path: Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The document of `path` merged over everything it extends (cycle-checked)."""
    path = Path(path)
    real = path.resolve()
    if real in _chain:
        cycle = " -> ".join(p.name for p in (*_chain, real))
        raise ScenarioError(path, "extends", f"cycle: {cycle}")
    if len(_chain) >= MAX_EXTENDS:
        raise ScenarioError(
            _chain[0], "extends", f"a chain of more than {MAX_EXTENDS} files: extend fewer"
        )
    data = read_yaml(path)
    parent = data.get("extends")
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError(path, "extends", f"{parent!r} must be a file name (a string)")
    parent_path = real.parent / parent
    if not parent_path.is_file():
        raise ScenarioError(path, "extends", f"{parent!r}: no such file ({parent_path})")
    inherited = resolve(parent_path, (*_chain, real))
    if "name" not in data and "name" in inherited:
        # results go to OUT/<name>: an inherited name would replace the parent's results
        raise ScenarioError(
            path,
            "name",
            f"missing: a variant needs a name of its own (it would inherit "
            f"{inherited['name']!r} from {parent}, and its results would replace that "
            "scenario's); add name: to this file",
        )
    merged = deep_merge(inherited, data)
    # Inherited citations, uncertainties and price years of keys this file removed go with
    # them, and so do inherited analyses of parameters that are no longer uncertain.
    for section in ("sources", "uncertainty", "cost_years"):
        own = data.get(section) or {}
        kept = merged.get(section)
        if isinstance(kept, dict):
            for key in list(kept):
                if key not in own and lookup(merged, key) is MISSING:
                    del kept[key]
    _prune_analysis(merged, data)
    merged["extends"] = parent
    return merged


def validate(data: dict[str, Any], file: str | Path = "<scenario>") -> Scenario:
    """Validate a merged document; the first problem becomes a one-line ScenarioError."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc, data, file) from None


def load(path: str | Path, changes: dict[str, Any] | None = None, **overrides: Any) -> Scenario:
    """Read, merge, validate and cross-check a scenario file; `overrides` replace top-level
    keys after the file is read (``patients=3000, psa_iterations=0``) and are validated
    like the file's own values; `changes` set values at dotted paths of the merged file
    before any check (``{"strategies.itb.care_cost_multiplier": 0.8}``: the command
    line's ``--set``). The scenario remembers its file (`Scenario.source`): a relative
    life-table path and the results' manifest refer to it."""
    path = Path(path)
    data = resolve(path)
    for dotted, value in (changes or {}).items():
        change(data, dotted, value, path)
    scenario = validate(data, path)
    check_references(scenario, data, path)
    check_analysis(scenario, data, path)
    check_calibration(scenario, data, path)
    try:
        lifetable.load(scenario.cohort.life_table, path.resolve().parent)
    except lifetable.LifeTableError as exc:
        raise ScenarioError(path, "cohort.life_table", str(exc)) from None
    index = prices.load_index(scenario.price_index, path.resolve().parent, path)
    prices.check(data, index, path)
    try:  # what the engines run: every cost in the price year's prices, in its range too
        validate(prices.priced_document(scenario.model_dump(), index), path)
    except ScenarioError as exc:
        raise ScenarioError(
            path, exc.path, f"{exc.message} once inflated to {scenario.price_year} prices"
        ) from None
    if overrides:
        scenario = validate({**scenario.model_dump(), **overrides}, path)
    return scenario.with_source(path)


def _prune_analysis(merged: dict[str, Any], own: dict[str, Any]) -> None:
    """Drop inherited EVPPI group members and threshold searches whose parameter the file
    left out of `uncertainty` or removed (a group left empty goes too)."""
    analysis = merged.get("analysis")
    if not isinstance(analysis, dict):
        return
    own_analysis = own.get("analysis") if isinstance(own.get("analysis"), dict) else {}
    uncertain = merged.get("uncertainty") if isinstance(merged.get("uncertainty"), dict) else {}
    groups = analysis.get("evppi_groups")
    if isinstance(groups, dict):
        written = own_analysis.get("evppi_groups") or {}
        for name in list(groups):
            if name in written or not isinstance(groups[name], list):
                continue
            groups[name] = [p for p in groups[name] if p in uncertain]
            if not groups[name]:
                del groups[name]
    thresholds = analysis.get("thresholds")
    if isinstance(thresholds, dict):
        written = own_analysis.get("thresholds") or {}
        for path in list(thresholds):
            if path not in written and lookup(merged, path) is MISSING:
                del thresholds[path]


def change(data: dict[str, Any], dotted: str, value: Any, file: str | Path) -> None:
    """Set `value` at a dotted path of a merged document: the key's mapping must exist."""
    *parents, leaf = dotted.split(".")
    node: Any = data
    for i, part in enumerate(parents):
        if not isinstance(node, dict) or part not in node or not isinstance(node[part], dict):
            where = ".".join(parents[: i + 1])
            raise ScenarioError(
                file,
                f"--set {dotted}",
                f"{where} is not a block of the scenario{did_you_mean(part, list(node or {}))}",
            )
        node = node[part]
    if not leaf:
        raise ScenarioError(file, f"--set {dotted}", "give KEY.PATH=VALUE")
    node[leaf] = value
