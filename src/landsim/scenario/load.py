"""TOML → validated :class:`Scenario`: ``extends`` inheritance, path resolution, errors.

Paths are resolved relative to the file that states them, before files are merged, so
a variant in another folder can extend a base without restating its paths. Errors name
the file and the key path (``[simulation.end_year]``) and, for a misspelt key, the
closest allowed key.
"""

from __future__ import annotations

import difflib
import tomllib
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from landsim.errors import ScenarioError
from landsim.scenario.schema import Scenario

if typing.TYPE_CHECKING:
    from landsim.sleuth.schema import SleuthScenario

MAX_EXTENDS_DEPTH = 32
# No scenario key is nested deeper than 4 tables/arrays; anything far deeper is not a
# scenario, and deep nesting made tomllib and the key walkers below hit Python's recursion
# limit (a RecursionError traceback instead of an error line).
MAX_NESTING = 32


def load(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Read, merge (``extends``), resolve and validate a scenario file.

    Parameters
    ----------
    path
        The scenario TOML file.
    overrides
        Keys to set after merging, as a nested dict (e.g. ``{"simulation": {"seed": 3}}``).
    """
    path = Path(path)
    data, origins = _read_chain(path.resolve(), chain=())
    if overrides:
        _merge(data, overrides, origins, path, prefix=())
    if _kind(data) == "sleuth":
        raise ScenarioError(
            f'{path}: a SLEUTH-kind scenario ([model] kind = "sleuth"); `landsim run` runs '
            "it, this command takes urban-growth scenarios only"
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_validation_error(exc, path, origins)) from None
    scenario._source = path.resolve()
    return scenario


def _kind(data: dict[str, Any]) -> str:
    model = data.get("model")
    kind = model.get("kind") if isinstance(model, dict) else None
    return kind if isinstance(kind, str) else "urban_ca"


def scenario_kind(path: str | Path) -> str:
    """The ``[model] kind`` of a scenario file (``urban_ca`` unless it says otherwise)."""
    data, _ = _read_chain(Path(path).resolve(), chain=())
    return _kind(data)


def load_sleuth(path: str | Path) -> SleuthScenario:
    """Read and validate a SLEUTH-kind scenario file (``[model] kind = "sleuth"``)."""
    from landsim.sleuth.schema import SleuthScenario

    path = Path(path)
    data, origins = _read_chain(path.resolve(), chain=())
    try:
        scenario = SleuthScenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_validation_error(exc, path, origins, SleuthScenario)) from None
    scenario._source = path.resolve()
    return scenario


def loads(text: str, base_dir: str | Path = ".", name: str = "<string>") -> Scenario:
    """Validate a scenario given as TOML text (paths relative to ``base_dir``)."""
    fake = Path(base_dir).resolve() / name
    data = _parse_toml(text, name)
    if "extends" in data:
        raise ScenarioError(f"{name}: 'extends' needs a scenario file, not a string")
    _resolve_paths(data, fake.parent, name)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_validation_error(exc, fake, {})) from None


# --------------------------------------------------------------------------- reading


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"{path}: scenario file not found") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a directory, not a scenario file") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario file: {exc.strerror}") from None
    # Windows editors (Notepad) start UTF-8 files with a byte-order mark, which TOML
    # does not allow; it carries no meaning, so it is dropped.
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Say where the first bad byte is: the user has to find it (a Latin-1 or GBK
        # character, or a file that is not text at all).
        line = raw[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            f"{path}: not valid TOML: the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} "
            f"on line {line}); save it as UTF-8"
        ) from None
    if "\0" in text:
        # Valid UTF-8 but not text: a binary file, or UTF-16 without a byte-order mark
        # (tomllib would only say "Invalid statement").
        line = text[: text.index("\0")].count("\n") + 1
        raise ScenarioError(
            f"{path}: not valid TOML: the file holds NUL bytes (line {line}), so it is not "
            "text (a binary file, or UTF-16); save it as UTF-8 text"
        )
    data = _parse_toml(text, str(path))
    if not data:
        # An empty file (or comments only) otherwise reads as "[schema_version] is
        # required but missing (and 5 more problems)", which hides what happened.
        raise ScenarioError(
            f"{path}: the scenario file is empty (no keys); a scenario needs schema_version, "
            "name, [simulation], [[classes]], [inputs] and [demand] (docs/scenario.md)"
        )
    return data


def _parse_toml(text: str, where: str) -> dict[str, Any]:
    """tomllib.loads, with every failure as one ScenarioError line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # "at end of document": the file stops mid-statement, as a file cut short does.
        cut = "; the file ends mid-statement (cut short?)" if "end of document" in str(exc) else ""
        raise ScenarioError(f"{where}: not valid TOML: {exc}{cut}") from None
    except RecursionError:
        # tomllib recurses per nested array or inline table.
        raise ScenarioError(
            f"{where}: not valid TOML: arrays or tables nested too deeply; a scenario nests "
            "at most a few levels"
        ) from None
    except ValueError as exc:
        # tomllib lets int()'s own ValueError through for integers of more than 4300
        # digits (Python's limit on int/str conversion): not a TOMLDecodeError.
        why = str(exc)
        if "digits" in why:
            why = "an integer with thousands of digits (TOML integers have at most 19)"
        raise ScenarioError(f"{where}: not valid TOML: {why}") from None
    _check_nesting(data, where)
    return data


def _check_nesting(data: dict[str, Any], where: str) -> None:
    """Refuse values nested deeper than MAX_NESTING (walked without recursion)."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack:
        value, key_path = stack.pop()
        if len(key_path) > MAX_NESTING:
            shown = _format_loc(key_path[:4]) + ".…"
            raise ScenarioError(
                f"{where}: [{shown}] nested more than {MAX_NESTING} levels deep; "
                "no scenario key nests that deep (docs/scenario.md)"
            )
        if isinstance(value, dict):
            stack.extend((v, (*key_path, str(k))) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*key_path, str(i))) for i, v in enumerate(value))


def _read_chain(
    path: Path, chain: tuple[Path, ...]
) -> tuple[dict[str, Any], dict[tuple[str, ...], Path]]:
    if path in chain:
        loop = " -> ".join(p.name for p in (*chain, path))
        raise ScenarioError(f"{chain[-1]}: [extends] loops back on itself ({loop}); break the loop")
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise ScenarioError(f"{path}: [extends] chain deeper than {MAX_EXTENDS_DEPTH} files")
    data = _read_toml(path)
    _resolve_paths(data, path.parent, str(path))
    base_ref = data.pop("extends", None)
    if base_ref is None:
        origins: dict[tuple[str, ...], Path] = {}
        for key_path in _leaf_paths(data, ()):
            origins[key_path] = path
        return data, origins
    if not isinstance(base_ref, str):
        raise ScenarioError(f"{path}: [extends] must be a file name (string), got {base_ref!r}")
    try:
        base_path = (path.parent / base_ref).resolve()
        found = base_path.is_file()
    except (ValueError, OSError) as exc:
        # A NUL character (ValueError) or a name too long for the file system (is_file()
        # raises ENAMETOOLONG) was a traceback.
        why = "it holds a NUL character" if "\0" in base_ref else str(exc.args[-1])
        raise ScenarioError(
            f"{path}: [extends] {_short(base_ref)} cannot be a file name ({why}); give the "
            "base scenario's file, relative to this one"
        ) from None
    if not found:
        # _one_line: the name may hold a line break ("a\nb"), shown escaped.
        raise ScenarioError(
            _one_line(
                f"{path}: [extends] file not found: {base_path} (paths are relative to {path.name})"
            )
        )
    base, origins = _read_chain(base_path, (*chain, path))
    _merge(base, data, origins, path, prefix=())
    return base, origins


def _leaf_paths(d: Any, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _leaf_paths(v, (*prefix, str(k)))
    else:
        yield prefix


def _merge(
    base: dict[str, Any],
    over: dict[str, Any],
    origins: dict[tuple[str, ...], Path],
    source: Path,
    prefix: tuple[str, ...],
) -> None:
    """Deep-merge ``over`` into ``base``: tables merge key by key, anything else replaces."""
    for k, v in over.items():
        key_path = (*prefix, str(k))
        if isinstance(v, dict) and isinstance(base.get(k), dict) and not _switches_kind(base[k], v):
            _merge(base[k], v, origins, source, key_path)
        else:
            base[k] = v
            for stale in [p for p in origins if p[: len(key_path)] == key_path]:
                del origins[stale]
            for leaf in _leaf_paths(v, key_path):
                origins[leaf] = source


# A table that states another `method` (or `kind`) than the one it overrides replaces the
# inherited table whole: the old method's keys mean nothing to the new one.
_KIND_KEYS = ("method", "kind")


def _switches_kind(base: dict[str, Any], over: dict[str, Any]) -> bool:
    return any(k in over and k in base and over[k] != base[k] for k in _KIND_KEYS)


def _resolve_paths(data: dict[str, Any], base_dir: Path, where: str) -> None:
    """Make every path-valued key absolute, relative to the file that states it."""

    def fix(container: dict[str, Any], key: str, *at: str) -> None:
        v = container.get(key)
        if isinstance(v, str) and v:
            # A NUL character (TOML's "\u0000") makes resolve() raise ValueError and
            # "~nosuchuser/x" makes expanduser() raise RuntimeError: both were tracebacks.
            try:
                container[key] = str((base_dir / Path(v).expanduser()).resolve())
            except (ValueError, RuntimeError, OSError) as exc:
                why = "it holds a NUL character" if "\0" in v else str(exc).rstrip(".")
                raise ScenarioError(
                    f"{where}: [{_format_loc((*at, key))}] path {_short(v)} cannot be used: "
                    f"{why}; give a file path"
                ) from None

    inputs = data.get("inputs")
    if isinstance(inputs, dict):
        fix(inputs, "landuse", "inputs")
        # SLEUTH-kind inputs: single layers, and tables of year -> layer.
        for key in ("excluded", "slope", "background"):
            fix(inputs, key, "inputs")
        for key in ("urban", "roads", "landuse"):
            years = inputs.get(key)
            if isinstance(years, dict):
                for year in years:
                    fix(years, year, "inputs", key)
        drivers = inputs.get("drivers")
        if isinstance(drivers, dict):
            for name, spec in drivers.items():
                if isinstance(spec, dict):
                    fix(spec, "path", "inputs", "drivers", name)
                else:
                    fix(drivers, name, "inputs", "drivers")
        derived = inputs.get("derived")
        if isinstance(derived, dict):
            for name, spec in derived.items():
                if isinstance(spec, dict):
                    fix(spec, "path", "inputs", "derived", name)
    suit = data.get("suitability")
    if isinstance(suit, dict):
        for key in ("path", "before", "after"):
            fix(suit, key, "suitability")
    demand = data.get("demand")
    if isinstance(demand, dict):
        fix(demand, "path", "demand")
        maps = demand.get("maps")
        if isinstance(maps, dict):
            for year in maps:
                fix(maps, year, "demand", "maps")
    districts = data.get("districts")
    if isinstance(districts, dict):
        fix(districts, "path", "districts")
    cons = data.get("constraints")
    if isinstance(cons, dict):
        for name, spec in cons.items():
            if isinstance(spec, dict):
                fix(spec, "path", "constraints", name)


# --------------------------------------------------------------------------- errors


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = str(part)
            # A quoted TOML key may hold a newline or other control characters; shown
            # raw, it would break the one-line error message.
            if not part.isprintable():
                part = repr(part)
            out += ("." if out else "") + part
    return out


def _clean_loc(loc: tuple[Any, ...], data_model: type[BaseModel]) -> tuple[Any, ...]:
    """Drop the tags pydantic inserts for unions (``demand.targets.unit`` → ``demand.unit``)."""
    out: list[Any] = []
    ann: Any = data_model
    for part in loc:
        ann = _unwrap_optional(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if isinstance(part, str) and part in ann.model_fields:
                out.append(part)
                ann = ann.model_fields[part].annotation
                continue
            out.append(part)
            ann = None
            continue
        origin = typing.get_origin(ann)
        args = typing.get_args(ann)
        if origin in (typing.Union, types.UnionType):
            # pydantic names the union member an error comes from ("constrained-float",
            # "dict[int,…]", a discriminator value): a tag, never a user's key.
            ann = _union_member(args, part)
            if ann is None:
                ann = _plain_member(args, part)
            continue
        if origin is dict:
            out.append(part)
            ann = args[1] if len(args) == 2 else None
            continue
        if origin is list:
            out.append(part)
            ann = args[0] if args else None
            continue
        out.append(part)
        ann = None
    return tuple(out)


def _unwrap_optional(ann: Any) -> Any:
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _unwrap_optional(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return _unwrap_optional(args[0])
    return ann


def _union_member(args: tuple[Any, ...], tag: Any) -> Any:
    for a in args:
        a = _unwrap_optional(a)
        if isinstance(a, type) and issubclass(a, BaseModel):
            f = a.model_fields.get("method")
            if f is not None and tag in typing.get_args(f.annotation):
                return a
            if tag == a.__name__:
                return a
    return None


def _plain_member(args: tuple[Any, ...], tag: Any) -> Any:
    """The non-model union member that pydantic's tag ``tag`` stands for."""
    tag = str(tag)
    for a in args:
        origin = typing.get_origin(_unwrap_optional(a))
        if origin is dict and tag.startswith("dict"):
            return _unwrap_optional(a)
        if origin is list and tag.startswith("list"):
            return _unwrap_optional(a)
    for a in args:
        if typing.get_origin(_unwrap_optional(a)) not in (dict, list):
            return _unwrap_optional(a)
    return None


def _model_at(loc: tuple[Any, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    """The pydantic model that holds the key at ``loc`` (for suggesting allowed keys)."""
    ann: Any = root
    for part in loc:
        ann = _unwrap_optional(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            field = ann.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            ann = field.annotation
            continue
        origin = typing.get_origin(ann)
        args = typing.get_args(ann)
        if origin is dict:
            ann = args[1]
        elif origin is list:
            ann = args[0]
        elif origin in (typing.Union, types.UnionType):
            member = _union_member(args, part)
            if member is None:
                return None
            ann = member
        else:
            return None
    ann = _unwrap_optional(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        for a in typing.get_args(ann):
            a = _unwrap_optional(a)
            if isinstance(a, type) and issubclass(a, BaseModel):
                return a
    return None


def _format_one(err: Any, root: type[BaseModel]) -> tuple[tuple[Any, ...], str]:
    raw_loc = tuple(err["loc"])
    loc = _clean_loc(raw_loc, root)
    etype = err["type"]
    key = _format_loc(loc)
    if etype == "extra_forbidden":
        parent = _model_at(raw_loc[:-1], root)
        name = str(loc[-1])
        allowed = sorted(f.alias or n for n, f in parent.model_fields.items()) if parent else []
        hint = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        msg = f"[{key}] unknown key"
        if hint:
            msg += f"; did you mean '{hint[0]}'?"
        if allowed:
            msg += f" (allowed here: {', '.join(allowed)})"
        return loc, msg
    if etype == "missing":
        return loc, f"[{key}] is required but missing"
    if etype == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return loc, (
            f"[{key}.{ctx.get('discriminator', 'method').strip(chr(39))}] "
            f"{ctx.get('tag')!r} is not allowed (choose one of: {ctx.get('expected_tags')})"
        )
    if etype == "union_tag_not_found":
        ctx = err.get("ctx", {})
        return loc, f"[{key}] needs '{ctx.get('discriminator', 'method').strip(chr(39))}'"
    if etype == "literal_error":
        exp = err.get("ctx", {}).get("expected", "")
        return loc, f"[{key}] {err['input']!r} is not allowed (choose one of: {exp})"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    got = err.get("input")
    show_got = etype not in ("value_error", "assertion_error") and not isinstance(got, dict | list)
    where = f"[{key}] " if key else ""
    return loc, f"{where}{msg}" + (f" (got {got!r})" if show_got else "")


def _error_rank(err: Any) -> int:
    if err["type"] == "extra_forbidden":
        return 0
    if err["type"].endswith("_type") and isinstance(err.get("input"), dict | list):
        return 2
    return 1


def _format_validation_error(
    exc: ValidationError,
    path: Path,
    origins: dict[tuple[str, ...], Path],
    root: type[BaseModel] = Scenario,
) -> str:
    # A misspelt key shows up twice: as unknown, and as the real key missing. The
    # unknown one carries the suggestion, so it goes first.
    # A value that fits no member of a union fails once per member; the member whose type
    # matched the input (a table for a table) has the error worth showing.
    errors = sorted(exc.errors(), key=_error_rank)
    loc, msg = _format_one(errors[0], root)
    src = path
    str_loc = tuple(str(p) for p in loc)
    for n in range(len(str_loc), 0, -1):
        hits = [f for p, f in origins.items() if p[:n] == str_loc[:n]]
        if hits:
            src = hits[-1]
            break
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return _one_line(f"{src}: {msg}" + (more if len(errors) > 1 else ""))


def _short(v: str, limit: int = 80) -> str:
    """``repr(v)``, cut to ``limit`` characters: a 5000-character name in full helps no one."""
    return repr(v) if len(v) <= limit else repr(v[: limit - 20]) + f"… ({len(v)} characters)"


def _one_line(msg: str) -> str:
    """Escape line breaks and other control characters that a user's value put into a
    message (a class name quoted in a validator's text): the CLI promises one line."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in msg)
