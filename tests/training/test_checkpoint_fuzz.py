"""Fuzzing: generated hostile checkpoints through ``load`` and the CLI, under a memory cap.

Starting from valid tiny checkpoints (a model, an ensemble, a resume state), hypothesis
mutates header entries and metadata fields (random JSON, NaN/Infinity, deep nesting), writes
random metadata and headers, truncates the file and flips its bytes. Each file must either load
(and then be usable by the code that reads its metadata) or be refused with one
:class:`~emotionkit.errors.EmotionKitError` line naming the file; through the CLI, exit 1 with
exactly one ``Error:`` line and no traceback. The process's address space is capped meanwhile,
so a file that makes emotionkit allocate gigabytes fails the test instead of the machine.
"""

from __future__ import annotations

import contextlib
import json
import struct

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from emotionkit.cli.main import cli
from emotionkit.errors import EmotionKitError
from emotionkit.training import Ensemble, load, save

resource = pytest.importorskip("resource")

#: How much more address space than it had at the start the test process may use.
HEADROOM = 3 * 1024 ** 3

FUZZ = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@contextlib.contextmanager
def address_space_cap(headroom: int = HEADROOM):
    """Lower RLIMIT_AS to the current size + ``headroom`` bytes (Linux), restored afterwards."""
    try:
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm + headroom
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# ---------------------------------------------------------------------- valid starting points
def _split(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header: dict | bytes, body: bytes) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


@pytest.fixture(scope="module")
def bases(tiny_registered, tmp_path_factory) -> dict[str, bytes]:
    """Valid checkpoints of each kind, as bytes."""
    from emotionkit.training.checkpoint import (
        model_identity,
        pack_state,
        state_tensors,
        write_checkpoint,
    )

    folder = tmp_path_factory.mktemp("fuzz-bases")
    model = tiny_registered.make(0)
    save(model, folder / "model.safetensors", train_args={"lr": 0.1})
    save(Ensemble([tiny_registered.make(1), tiny_registered.make(2)]), folder / "ens.safetensors")
    tensors = state_tensors(model, "model.")
    # the layout of torch.optim.SGD(momentum=0.9).state_dict(), without importing what a
    # real step imports (torch._dynamo: seconds)
    params = list(model.parameters())
    opt = {"state": {i: {"momentum_buffer": torch.zeros_like(p)} for i, p in enumerate(params)},
           "param_groups": [{"lr": 0.1, "momentum": 0.9, "nesterov": False,
                             "params": list(range(len(params)))}]}
    state = {"epoch": 1, "partial": {"batch": 2, "loss_sum": 1.5, "correct": 1, "count": 4,
                                     "lr": 0.1, "seconds": 0.5},
             "should_stop": False, "best_stored": False, "world_size": 1, "batch_size": 4,
             "data": {"n_train": 8, "n_val": None},
             "optimizer": pack_state(opt, "optimizer", tensors),
             "scheduler": None, "scaler": None,
             "callbacks": [{"class": "EarlyStopping",
                            "state": pack_state({"best": float("inf")}, "callbacks.0", tensors)}],
             "rng": [pack_state({"numpy": np.random.RandomState(0).get_state(),
                                 "python": (3, (1, 2), None)}, "rng.0", tensors)]}
    write_checkpoint(folder / "last.safetensors", tensors,
                     {"kind": "resume", **model_identity(model), "train_args": {},
                      "class_names": ["angry", "disgust", "fear", "happy", "sad", "surprise",
                                      "neutral"],
                      "history": {"epochs": [{"epoch": 1, "train_loss": 1.0}]},
                      "resume": state})
    out = {p.stem: p.read_bytes() for p in folder.iterdir()}
    for name, data in out.items():  # each base is valid to begin with
        path = folder / f"check-{name}.safetensors"
        path.write_bytes(data)
        load(path)
    return out


# ---------------------------------------------------------------------- hostile files
SCALARS = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
           | st.sampled_from([0, 1, -1, 7, 2 ** 31, 2 ** 63, 2 ** 64, 10 ** 30])
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10)
#: Raw JSON text that json.dumps never writes: the non-standard constants and deep nesting.
RAW = st.sampled_from(["NaN", "Infinity", "-Infinity", "[" * 64 + "]" * 64,
                       "[" * 65 + "]" * 65, "[" * 5000 + "]" * 5000, '{"a":' * 70 + "1" + "}" * 70])
PLACEHOLDER = "\u0000RAW\u0000"
NUMBERS = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-10, 10)
NAMES = st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=8)
#: Values close to valid ones, so that more files get past the first check.
PLAUSIBLE = {
    "class_names": NAMES | st.just(["angry", "disgust", "fear", "happy", "sad", "surprise",
                                    "neutral"]),
    "normalization": st.fixed_dictionaries({"mean": NUMBERS, "std": NUMBERS}),
    "history": st.fixed_dictionaries({"epochs": st.lists(st.dictionaries(
        st.sampled_from(["epoch", "train_loss", "val_acc"]), SCALARS), max_size=3)}),
    "model_name": st.sampled_from(["test-tiny", "compact", "nonet"]) | st.text(max_size=5),
    "model_config": st.dictionaries(st.sampled_from(["width", "dropout"]), NUMBERS,
                                    max_size=2),
    "versions": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    "pretrained": st.fixed_dictionaries({"class_names": NAMES, "params": NUMBERS,
                                         "accuracy": st.dictionaries(st.text(max_size=5),
                                                                     SCALARS, max_size=2)}),
    "train_args": st.dictionaries(st.text(max_size=5), SCALARS, max_size=3),
}
ENTRY_FIELDS = ("dtype", "shape", "data_offsets", None)  # None: the whole entry
META_FIELDS = ("model_name", "model_config", "normalization", "class_names", "train_args",
               "history", "versions", "payload_sha256", "members", "resume", "pretrained",
               "kind", "version", "format", "extra")
NESTED = {"model_config": ("width", "dropout", "seed", "pretrained"),
          "normalization": ("mean", "std"),
          "history": ("epochs", "best_epoch", "monitor"),
          "members": (0, 1),
          "resume": ("epoch", "partial", "data", "optimizer", "callbacks", "rng", "batch_size",
                     "scheduler", "best_stored")}


def _set(container, path, value):
    """Replace (or delete, for value ``DELETE``) ``container[path...]``; ignore missing paths."""
    for step in path[:-1]:
        try:
            container = container[step]
        except (KeyError, IndexError, TypeError):
            return
    try:
        if value is DELETE:
            del container[path[-1]]
        else:
            container[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass


DELETE = object()


@st.composite
def mutated_header(draw, bases):
    """A base file with tensor entries and metadata fields replaced by random values."""
    base = draw(st.sampled_from(sorted(bases)))
    header, body = _split(bases[base])
    meta = json.loads(header["__metadata__"]["emotionkit"])
    names = sorted(k for k in header if k != "__metadata__")
    raw = None
    for _ in range(draw(st.integers(1, 3))):
        value = draw(st.one_of(JSON, st.just(DELETE), st.just(PLACEHOLDER)))
        if value == PLACEHOLDER:
            raw = draw(RAW)
        target = draw(st.sampled_from(["entry", "meta", "meta", "nested"]))
        if target == "entry":
            field = draw(st.sampled_from(ENTRY_FIELDS))
            name = draw(st.sampled_from(names + ["extra"]))
            _set(header, [name] if field is None else [name, field], value)
        elif target == "meta":
            field = draw(st.sampled_from(META_FIELDS))
            if field in PLAUSIBLE and draw(st.booleans()):
                value = draw(PLAUSIBLE[field])
            _set(meta, [field], value)
        else:
            field = draw(st.sampled_from(sorted(NESTED)))
            _set(meta, [field, draw(st.sampled_from(NESTED[field]))], value)
    header["__metadata__"]["emotionkit"] = json.dumps(meta)
    text = json.dumps(header)
    if raw is not None:  # PLACEHOLDER is written as "\u0000RAW\u0000" in the metadata string
        text = text.replace('"\\u0000RAW\\u0000"', raw)  # a header value
        text = text.replace('\\"\\\\u0000RAW\\\\u0000\\"', raw.replace('"', '\\"'))
    return _join(text.encode(), body)


@st.composite
def random_metadata(draw, bases):
    """Valid tensors and format tag, with metadata fields of random values."""
    header, body = _split(bases["model"])
    meta = {"format": "emotionkit.checkpoint", "version": 1,
            "kind": draw(st.sampled_from(["model", "model", "model", "ensemble", "resume"]))}
    for field in draw(st.lists(st.sampled_from(META_FIELDS[:11]), max_size=5, unique=True)):
        meta[field] = draw(PLAUSIBLE[field] if field in PLAUSIBLE and draw(st.booleans())
                           else JSON)
    if draw(st.booleans()):
        meta.update(model_name="test-tiny", model_config={"width": draw(JSON)})
    header["__metadata__"]["emotionkit"] = json.dumps(meta)
    return _join(header, body)


@st.composite
def damaged_bytes(draw, bases):
    """A base file truncated, with flipped bytes, a random length prefix or appended bytes."""
    data = bytearray(bases[draw(st.sampled_from(sorted(bases)))])
    how = draw(st.sampled_from(["truncate", "flip", "flip-header", "length", "append"]))
    if how == "truncate":
        return bytes(data[:draw(st.integers(0, len(data) - 1))])
    if how in ("flip", "flip-header"):
        (n,) = struct.unpack("<Q", data[:8])
        top = 8 + n if how == "flip-header" else len(data)
        for i in draw(st.lists(st.integers(0, top - 1), min_size=1, max_size=8)):
            data[i] ^= draw(st.integers(1, 255))
        return bytes(data)
    if how == "length":
        data[:8] = struct.pack("<Q", draw(st.integers(0, 2 ** 64 - 1)))
        return bytes(data)
    return bytes(data) + draw(st.binary(min_size=1, max_size=64))


@st.composite
def random_header(draw):
    """A length prefix and random bytes or random JSON as the header."""
    if draw(st.booleans()):
        raw = draw(st.binary(max_size=200))
    else:
        raw = json.dumps(draw(st.dictionaries(st.text(max_size=10), JSON, max_size=4))).encode()
    return _join(raw, draw(st.binary(max_size=64)))


def hostile(bases):
    return st.one_of(mutated_header(bases), mutated_header(bases), random_metadata(bases),
                     damaged_bytes(bases), random_header())


# ---------------------------------------------------------------------- the checks
def check_load(path) -> None:
    """It loads (and its metadata can be used) or is refused with one line naming the file."""
    from emotionkit.evaluation.evaluator import model_name_of
    from emotionkit.explain.inputs import model_class_names
    from emotionkit.inference.model_spec import describe_model

    try:
        model = load(path)
    except EmotionKitError as exc:
        message = str(exc)
        assert "\n" not in message, message
        assert str(path) in message, message
        return
    model_class_names(model)
    describe_model(model)
    model_name_of(model)
    with torch.no_grad():
        out = model(torch.rand(2, 1, 48, 48))
    assert out.shape[0] == 2


def check_cli(path, face) -> None:
    """Exit 0, or exit 1 with exactly one ``Error:`` line and no traceback."""
    result = CliRunner().invoke(cli, ["predict", "--model", str(path), str(face), "--json",
                                      "--device", "cpu", "--tta", "none"])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}")
    assert "Traceback" not in result.output
    if result.exit_code:
        assert result.exit_code == 1, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, result.output


def test_fuzz_load_and_cli_under_a_memory_cap(bases, tmp_path):
    path = tmp_path / "hostile.safetensors"
    face = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48), np.uint8)).save(face)
    calls = {"cli": 0}

    @FUZZ
    @given(data=hostile(bases), via_cli=st.integers(0, 9))
    def run(data, via_cli):
        path.write_bytes(data)
        check_load(path)
        if via_cli == 0:  # the CLI costs more: a tenth of the files
            calls["cli"] += 1
            check_cli(path, face)

    path.write_bytes(bases["model"])
    check_cli(path, face)  # warm up (imports) outside the cap; the valid file works
    with address_space_cap():
        run()
    assert calls["cli"] > 0
