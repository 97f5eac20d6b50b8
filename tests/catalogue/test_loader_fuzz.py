"""Fuzzing the scenario loader: whatever the file holds, a Scenario or one error line.

``landsim.scenario.load`` (a file) and ``loads`` (text) are given

(a) arbitrary bytes and text, and valid scenario text with random edits (cut short,
    spans deleted, bytes inserted, lines repeated);
(b) a valid scenario dict (``_landsim_kit.base_scenario``) with structured mutations,
    written with ``to_toml``: keys deleted (None as missing), unknown keys inserted,
    values swapped among int / float / str / bool / list / dict, numbers out of range,
    huge numbers, NaN and infinities, tables and arrays nested hundreds deep, odd path
    strings, an ``extends`` pointing anywhere (itself included).

The loader must return a :class:`Scenario` or raise a :class:`LandsimError` whose
message is one line; any other exception is a bug. A loaded scenario must hold finite
numbers only (its JSON dump is what provenance and the ensemble fingerprint hash). Each
call runs under an alarm, so a hang fails the test instead of stalling the suite.

The loader reads no raster, so no input files are needed. Examples per test are in
``EXAMPLES``; the ``@example`` rows are the crashes this fuzzing found (fixed in
``landsim/scenario``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _landsim_kit import base_scenario, to_toml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from landsim.errors import LandsimError
from landsim.scenario import Scenario, load, loads

EXAMPLES = {"text": 300, "bytes": 200, "edits": 300, "mutations": 400, "variants": 150}
SECONDS_PER_CALL = 5.0

BASE = base_scenario(observed_urban=33)
BASE_TEXT = to_toml(BASE)
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Hang(Exception):
    """The loader took longer than SECONDS_PER_CALL on one input."""


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def ring(signum: int, frame: object) -> None:
        raise Hang(f"the loader ran for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _finite(v: Any) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, dict):
        return all(_finite(x) for x in v.values())
    if isinstance(v, list):
        return all(_finite(x) for x in v)
    return True


def _outcome(call: Callable[[], Any]) -> Scenario | LandsimError:
    """A Scenario or a one-line LandsimError; anything else propagates (a bug)."""
    try:
        with _alarm(SECONDS_PER_CALL):
            scenario = call()
    except LandsimError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and "\r" not in msg, f"not one line: {msg!r}"
        return exc
    assert isinstance(scenario, Scenario), type(scenario)
    dumped = scenario.model_dump(mode="json")
    assert _finite(dumped), dumped
    json.dumps(dumped, allow_nan=False)  # what provenance.json and the fingerprint hash
    return scenario


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _load_bytes(folder: Path, data: bytes, name: str = "scenario.toml") -> Any:
    path = folder / name
    path.write_bytes(data)
    return _outcome(lambda: load(path))


def test_the_base_scenario_loads(folder: Path) -> None:
    """The starting point of the mutations is valid (else they would test nothing)."""
    assert isinstance(_load_bytes(folder, BASE_TEXT.encode()), Scenario)
    assert isinstance(_outcome(lambda: loads(BASE_TEXT, folder)), Scenario)


# --------------------------------------------------------------------------- (a) text, bytes

# Characters TOML gives meaning to, so random text gets past the first character.
TOML_CHARS = "[]{}=\".,'\n #-_+:0123456789abcdefinxyz\\\t武"
toml_ish = st.text(alphabet=TOML_CHARS, max_size=200)

# The crashes found (each was a traceback before the fix in landsim/scenario/load.py).
DEEP_ARRAY = "a = " + "[" * 3000 + "]" * 3000
DEEP_TABLE = "a = " + "{ b = " * 600 + "1" + " }" * 600
LONG_INT = "schema_version = " + "9" * 5000
HEX_INT = "seed = 0x" + "f" * 5000
NEWLINE_KEY = '"bad\\nkey" = 1\n' + BASE_TEXT


@given(st.one_of(st.text(max_size=300), toml_ish))
@example(DEEP_ARRAY)
@example(DEEP_TABLE)
@example(LONG_INT)
@example(HEX_INT)
@example(NEWLINE_KEY)
@example("")
@settings(FUZZ, max_examples=EXAMPLES["text"])
def test_loads_arbitrary_text(folder: Path, text: str) -> None:
    _outcome(lambda: loads(text, folder))


@given(st.binary(max_size=400))
@example(DEEP_ARRAY.encode())
@example(LONG_INT.encode())
@example(b"\x00" * 8)
@example(b"\xef\xbb\xbf")
@example(b"\xff\xfe" + "name = 'x'".encode("utf-16-le"))
@settings(FUZZ, max_examples=EXAMPLES["bytes"])
def test_load_arbitrary_bytes(folder: Path, data: bytes) -> None:
    _load_bytes(folder, data)


@st.composite
def edited(draw: st.DrawFn) -> bytes:
    """Valid scenario text with a few random edits: the realistic damage."""
    data = bytearray(BASE_TEXT.encode("utf-8"))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["cut", "delete", "insert", "repeat", "flip"]))
        i = draw(st.integers(0, len(data)))
        if op == "cut":
            del data[i:]
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 40))]
        elif op == "insert":
            data[i:i] = draw(st.one_of(st.binary(max_size=8), toml_ish.map(str.encode)))
        elif op == "repeat":
            lines = data.split(b"\n")
            n = draw(st.integers(0, len(lines) - 1))
            lines.insert(n, lines[n])
            data = bytearray(b"\n".join(lines))
        elif data and i < len(data):
            data[i] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


@given(edited())
@settings(FUZZ, max_examples=EXAMPLES["edits"])
def test_load_damaged_scenario_text(folder: Path, data: bytes) -> None:
    _load_bytes(folder, data)


# --------------------------------------------------------------------------- (b) structures

ODD_STRINGS = [
    "",
    " ",
    ".",
    "..",
    "/",
    "~",
    "~nosuchuser/landuse.tif",
    "land\x00use.tif",
    "a\nb",
    "x" * 5000,
    "武汉/土地利用.tif",
    "urban",
    "cropland",
    "*",
    "urban_development_boundary.flexible_development",
    "sleuth",
    "population",
    "#d7191c",
    "2030",
]
ODD_NUMBERS = [
    0,
    -1,
    1,
    254,
    255,
    999,
    1000,
    3000,
    3001,
    2**31,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63),
    10**30,
    0.0,
    -0.0,
    1e-320,
    1e300,
    -1e300,
    math.inf,
    -math.inf,
    math.nan,
]

scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=30),
    st.sampled_from(ODD_STRINGS),
    st.sampled_from(ODD_NUMBERS),
)
keys = st.one_of(
    st.text(min_size=0, max_size=20),
    st.sampled_from(["extends", "method", "kind", "path", "name", "code", "role", "seed"]),
    st.integers(min_value=-5, max_value=5000),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(keys, inner, max_size=4),
    ),
    max_leaves=12,
)


@dataclass(frozen=True)
class Deep:
    """A value nested ``depth`` levels deep (inline arrays or inline tables), written as
    text: hypothesis's pretty-printer and ``to_toml`` both recurse, and would overflow on
    it before the loader is reached."""

    depth: int
    as_list: bool

    def text(self) -> str:
        if self.as_list:
            return "[" * self.depth + "1" + "]" * self.depth
        return "{ deeper = " * self.depth + "1" + " }" * self.depth


def _toml(data: dict[str, Any]) -> str:
    """``to_toml``, with each Deep written in place of a placeholder string."""
    deep: dict[str, Deep] = {}

    def swap(v: Any) -> Any:
        if isinstance(v, Deep):
            token = f"DEEP-PLACEHOLDER-{len(deep)}"
            deep[token] = v
            return token
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    text = to_toml(swap(data))
    for token, d in deep.items():
        text = text.replace(json.dumps(token), d.text())
    return text


def _slots(data: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in the tree: where a mutation can act."""
    out: list[tuple[Any, Any]] = []
    stack = [data]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in list(items):
            out.append((node, k))
            if isinstance(v, dict | list):
                stack.append(v)
    return out


def _tables(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [data, *(c[k] for c, k in _slots(data) if isinstance(c[k], dict))]


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 5))):
        op = draw(
            st.sampled_from(["delete", "unknown", "retype", "number", "nest", "extends", "swap"])
        )
        slots = _slots(data)
        if op == "unknown":
            table = draw(st.sampled_from(_tables(data)))
            table[draw(keys)] = draw(values)
            continue
        if op == "extends":
            data["extends"] = draw(
                st.sampled_from(["scenario.toml", "base.toml", "", ".", "../scenario.toml"])
                | st.sampled_from(ODD_STRINGS)
                | values
            )
            continue
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        if op == "delete":  # None as missing
            del container[key]
        elif op == "retype":
            container[key] = draw(values)
        elif op == "number":
            container[key] = draw(st.sampled_from(ODD_NUMBERS) | st.floats())
        elif op == "nest":
            # From a few levels to past tomllib's recursion limit (some hundreds).
            container[key] = Deep(draw(st.integers(1, 1500)), draw(st.booleans()))
        else:  # swap: a value from elsewhere in the scenario, of another type
            other, okey = draw(st.sampled_from(slots))
            container[key] = copy.deepcopy(other[okey])
    return data


# A scenario dict per crash found, as the mutations produce them.
INF_POPULATION = copy.deepcopy(BASE)
INF_POPULATION["demand"] = {
    "method": "population",
    "population": {2020: 1e6, 2030: math.inf},
    "urbanization_rate": {2020: 0.6, 2030: 0.65},
    "urban_land_per_capita_m2": 100.0,
}
NAN_INTERCEPT = copy.deepcopy(BASE)
NAN_INTERCEPT["suitability"]["intercept"] = math.nan
NUL_PATH = copy.deepcopy(BASE)
NUL_PATH["inputs"]["landuse"] = "land\x00use.tif"
NO_SUCH_USER = copy.deepcopy(BASE)
NO_SUCH_USER["constraints"]["water"]["path"] = "~nosuchuser/water.tif"
DEEP_DICT = copy.deepcopy(BASE)
DEEP_DICT["model"]["neighborhood_weights"] = Deep(40, as_list=False)
DEEP_LIST = copy.deepcopy(BASE)
DEEP_LIST["simulation"]["output_years"] = Deep(1500, as_list=True)
NEWLINE_CLASS = copy.deepcopy(BASE)
NEWLINE_CLASS["classes"][0]["name"] = "crop\nland"
NEWLINE_CLASS["model"]["neighborhood_weights"] = {"orchard": 1.0}
SELF_EXTENDS = {**BASE, "extends": "scenario.toml"}
NUL_EXTENDS = {**BASE, "extends": "base\x00.toml"}
LONG_EXTENDS = {**BASE, "extends": "x" * 5000}
NEWLINE_EXTENDS = {**BASE, "extends": "a\nb"}


@given(mutated())
@example(INF_POPULATION)
@example(NAN_INTERCEPT)
@example(NUL_PATH)
@example(NO_SUCH_USER)
@example(DEEP_DICT)
@example(DEEP_LIST)
@example(NEWLINE_CLASS)
@example(SELF_EXTENDS)
@example(NUL_EXTENDS)
@example(LONG_EXTENDS)
@example(NEWLINE_EXTENDS)
@settings(FUZZ, max_examples=EXAMPLES["mutations"])
def test_load_mutated_scenario(folder: Path, data: dict[str, Any]) -> None:
    text = _toml(data)
    _load_bytes(folder, text.encode("utf-8"))
    if "extends" not in data:  # loads() takes no extends (refused, tested elsewhere)
        _outcome(lambda: loads(text, folder))


@given(mutated())
@settings(FUZZ, max_examples=EXAMPLES["variants"])
def test_load_mutated_variant_of_a_base(folder: Path, data: dict[str, Any]) -> None:
    """The mutated file as a variant of the valid base: the merge and the error's file."""
    (folder / "base.toml").write_text(BASE_TEXT, encoding="utf-8")
    text = _toml({**data, "extends": "base.toml"})
    outcome = _load_bytes(folder, text.encode("utf-8"), name="variant.toml")
    if isinstance(outcome, LandsimError):
        assert "base.toml" in str(outcome) or "variant.toml" in str(outcome), str(outcome)
