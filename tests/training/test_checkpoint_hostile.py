"""Hostile checkpoints: malformed headers, metadata outside the schema, NaN weights, huge configs.

Every case must end in one :class:`~emotionkit.errors.CheckpointError` line naming the file
(and the tensor or metadata field), never a traceback, and the CLI must print one ``Error:``
line and exit 1.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from emotionkit import _checkpoint
from emotionkit.cli.main import cli
from emotionkit.errors import CheckpointError
from emotionkit.training import Ensemble, load, read_checkpoint, save
from emotionkit.training.checkpoint import pack_state, unpack_state, write_checkpoint

OWN = ("format", "version", "versions", "payload_sha256")  # filled in by write_checkpoint


def _split(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header: dict | bytes, body: bytes) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def _meta_text(header: dict) -> str:
    return header["__metadata__"]["emotionkit"]


@pytest.fixture
def good(tiny_model, tmp_path):
    """A valid ``test-tiny`` checkpoint: (path, its bytes)."""
    path = tmp_path / "good.safetensors"
    save(tiny_model, path)
    return path, path.read_bytes()


def _refused(path, data: bytes) -> str:
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as exc:
        load(path)
    message = str(exc.value)
    assert "\n" not in message
    return message


def _with_entry(data: bytes, **fields) -> bytes:
    """The file with the fields of its first tensor entry replaced."""
    header, body = _split(data)
    name = next(k for k in header if k != "__metadata__")
    header[name].update(fields)
    return _join(header, body)


def _with_meta(data: bytes, **fields) -> bytes:
    """The file with metadata fields replaced (``None`` deletes a field)."""
    header, body = _split(data)
    meta = json.loads(_meta_text(header))
    for k, v in fields.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    header["__metadata__"]["emotionkit"] = json.dumps(meta)
    return _join(header, body)


# ---------------------------------------------------------------------- the header
def test_deeply_nested_json_is_refused_before_parsing(good):
    path, data = good
    deep = b"[" * 100_000 + b"]" * 100_000
    assert _refused(path, _join(deep, b"")) == (
        f"{path}: not a safetensors file (invalid header: nested 100,000 levels deep, more "
        "than the 64 accepted)")
    header, body = _split(data)
    header["__metadata__"]["emotionkit"] = "[" * 100_000 + "]" * 100_000
    assert _refused(path, _join(header, body)) == (
        f"{path}: emotionkit metadata is not valid JSON (nested 100,000 levels deep, more than "
        "the 64 accepted)")


def test_json_depth_ignores_brackets_inside_strings():
    assert _checkpoint.json_depth(b'{"a": [1, {"b": "[[[[\\"]]]"}]}') == 3
    assert _checkpoint.json_depth(b'["\\\\", ["x"]]') == 2  # an escaped backslash, then a quote
    assert _checkpoint.json_depth("[\"\u00e9[\"]".encode()) == 1
    assert _checkpoint.json_depth(b"7") == 0


def _true_depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_true_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_true_depth, value.values()), default=0)
    return 0


@settings(max_examples=200, deadline=None, database=None)
@given(st.recursive(st.none() | st.integers() | st.text(alphabet='[]{}"\\ab\u00e9'),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=4), inner,
                                      max_size=3), max_leaves=20))
def test_json_depth_matches_the_parsed_depth(value):
    text = json.dumps(value, ensure_ascii=False).encode()
    assert _checkpoint.json_depth(text) == _true_depth(value)


@pytest.mark.parametrize("offsets", ["abc", [], 5, None, [0], [0, 8, 16], [True, 8], [-8, 0],
                                     [8, 0], [0, 8.0]])
def test_malformed_data_offsets(good, offsets):
    path, data = good
    message = _refused(path, _with_entry(data, data_offsets=offsets))
    assert message.startswith(f"{path}: tensor '")
    assert message.endswith(f": invalid data_offsets {offsets!r} (expected [begin, end] with "
                            "0 <= begin <= end)")


def test_infinite_offsets_and_nan_metadata_are_not_json(good):
    path, data = good
    header, body = _split(data)
    name = next(k for k in header if k != "__metadata__")
    header[name]["data_offsets"] = "INF"
    text = json.dumps(header).replace('"INF"', "[0, Infinity]")
    header[name]["data_offsets"] = _split(data)[0][name]["data_offsets"]
    assert _refused(path, _join(text.encode(), body)) == (
        f"{path}: not a safetensors file (invalid header: Infinity is not a JSON value)")
    meta = _meta_text(header).replace('"version": 1', '"version": NaN')
    assert "NaN" in meta
    header["__metadata__"]["emotionkit"] = meta
    assert _refused(path, _join(header, body)) == (
        f"{path}: emotionkit metadata is not valid JSON (NaN is not a JSON value)")


@pytest.mark.parametrize("fields,message", [
    ({"dtype": "Q9"}, "unknown dtype 'Q9' (known: BOOL, U8, "),
    ({"dtype": ["F32"]}, "unknown dtype ['F32'] (known: "),
    ({"dtype": "F4"}, "unknown dtype 'F4' (known: "),  # safetensors knows it, torch does not
    ({"shape": [-1, 4]}, "invalid shape [-1, 4] (expected a list of at most 32 integers >= 0)"),
    ({"shape": ["a"]}, "invalid shape ['a'] (expected"),
    ({"shape": [2.0]}, "invalid shape [2.0] (expected"),
    ({"shape": "4"}, "invalid shape '4' (expected"),
    ({"shape": [1] * 33}, "(expected a list of at most 32 integers >= 0)"),
])
def test_malformed_dtype_and_shape(good, fields, message):
    path, data = good
    got = _refused(path, _with_entry(data, **fields))
    assert got.startswith(f"{path}: tensor '") and message in got


def test_offsets_that_do_not_fit(good):
    path, data = good
    header, body = _split(data)
    names = sorted((k for k in header if k != "__metadata__"),
                   key=lambda k: header[k]["data_offsets"])
    first, second = names[0], names[1]
    b, e = header[first]["data_offsets"]
    # a span that is not what the shape needs
    got = _refused(path, _with_entry(data, data_offsets=[0, 10**30]))
    assert "span 1,000,000,000,000,000,000,000,000,000,000 bytes, its shape" in got
    # beyond the end of the file
    h = json.loads(json.dumps(header))
    last = max(names, key=lambda k: h[k]["data_offsets"][1])
    lb, le = h[last]["data_offsets"]
    h[last].update(shape=[(le - lb) // 4 + 4], dtype="F32", data_offsets=[lb, le + 16])
    assert _refused(path, _join(h, body)).startswith(f"{path}: truncated checkpoint (")
    # two tensors sharing bytes
    h = json.loads(json.dumps(header))
    h[second].update(dtype=h[first]["dtype"], shape=h[first]["shape"], data_offsets=[b, e])
    assert _refused(path, _join(h, body)) == (
        f"{path}: tensors {min(first, second)!r} and {max(first, second)!r} overlap in the "
        "file (corrupt header)")
    # bytes that belong to no tensor: before a tensor, and at the end
    h = json.loads(json.dumps(header))
    del h[first]
    assert _refused(path, _join(h, body)) == (
        f"{path}: {e - b:,} bytes before tensor {second!r} belong to no tensor (corrupt header)")
    assert _refused(path, data + b"\0" * 5) == (
        f"{path}: 5 bytes after the last tensor belong to no tensor (corrupt file)")


def test_entry_that_is_not_an_object(good):
    path, data = good
    header, body = _split(data)
    header["extra"] = 5
    assert _refused(path, _join(header, body)) == (
        f"{path}: tensor 'extra': the header entry 5 is not an object with dtype, shape and "
        "data_offsets")


def test_header_length_beyond_the_file_and_above_the_cap(good, monkeypatch):
    path, data = good
    huge = struct.pack("<Q", 10**12) + data[8:]
    assert _refused(path, huge) == (f"{path}: truncated safetensors file (header of "
                                    f"1000000000000 bytes, file has {len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    monkeypatch.setattr(_checkpoint, "MAX_HEADER_BYTES", n - 1)
    assert _refused(path, data) == (f"{path}: safetensors header of {n:,} bytes, more than "
                                    f"the {n - 1:,} accepted")


@pytest.mark.parametrize("value", [True, 1.0, "1", [1]])
def test_version_must_be_an_integer(good, value):
    path, data = good
    assert _refused(path, _with_meta(data, version=value)) == (
        f"{path}: invalid checkpoint format version {value!r}")


def test_metadata_that_is_not_a_string(good):
    path, data = good
    header, body = _split(data)
    header["__metadata__"]["emotionkit"] = {"format": "emotionkit.checkpoint"}
    assert _refused(path, _join(header, body)) == (
        f"{path}: emotionkit metadata is not valid JSON (not a string)")


# ---------------------------------------------------------------------- the metadata schema
@pytest.mark.parametrize("fields,message", [
    ({"class_names": 5},
     "invalid metadata field 'class_names': expected a list of 1 to 1,000 class names, got 5"),
    ({"class_names": []}, "'class_names': expected a list of 1 to 1,000 class names, got []"),
    ({"class_names": ["a", "a"]}, "'class_names': expected a list of 1 to 1,000 class names "
                                  "(without repeats), got ['a', 'a']"),
    ({"class_names": ["happy", 3]},
     "'class_names[1]': expected a string of 1 to 100 characters, got 3"),
    ({"normalization": "x"}, "'normalization': expected an object, got 'x'"),
    ({"normalization": {"mean": 0.5}}, "metadata field 'normalization.std' is missing"),
    ({"normalization": {"mean": 0.5, "std": 0}},
     "'normalization.std': expected a finite number > 0, got 0"),
    ({"normalization": {"mean": "0.5", "std": 1}},
     "'normalization.mean': expected a finite number, got '0.5'"),
    ({"model_name": 5}, "'model_name': expected a string of 1 to 200 characters, got 5"),
    ({"model_config": [4]}, "'model_config': expected an object of at most 1,000 entries, "
                            "got [4]"),
    ({"model_config": {"width": 4, "pretrained": True}},
     "'model_config.pretrained': expected no 'pretrained' (a keyword of ModelZoo.create, not "
     "a model option), got True"),
    ({"train_args": 5}, "'train_args': expected an object of at most 100,000 entries, got 5"),
    ({"history": {"epochs": 5}}, "'history.epochs': expected a list of epoch records, got 5"),
    ({"history": {"best_epoch": 1}}, "metadata field 'history.epochs' is missing"),
    ({"history": {"epochs": [{"epoch": -1}]}},
     "'history.epochs[0].epoch': expected an integer >= 0, got -1"),
    ({"versions": {"torch": 2}}, "'versions.torch': expected a string of 1 to 200 characters"),
    ({"payload_sha256": "abc"}, "'payload_sha256': expected 64 lowercase hex digits, got 'abc'"),
    ({"pretrained": {"params": -1}}, "'pretrained.params': expected an integer >= 0, got -1"),
    ({"pretrained": {"accuracy": {"publictest": [0.5]}}},
     "'pretrained.accuracy.publictest': expected a finite number, a string, true/false or "
     "null, got [0.5]"),
])
def test_metadata_fields_outside_the_schema(good, fields, message):
    path, data = good
    got = _refused(path, _with_meta(data, **fields))
    assert got.startswith(f"{path}: ") and message in got, got


def test_every_kind_needs_its_fields(tiny_registered, tmp_path):
    members = [tiny_registered.make(0), tiny_registered.make(1)]
    path = tmp_path / "ens.safetensors"
    save(Ensemble(members), path)
    data = path.read_bytes()
    load(path)
    assert _refused(path, _with_meta(data, members=None)) == (
        f"{path}: metadata field 'members' is missing (required in a 'ensemble' checkpoint)")
    broken = json.loads(json.dumps(_meta_dict(data)["members"]))
    broken[1]["normalization"]["std"] = -1.0
    assert _refused(path, _with_meta(data, members=broken)) == (
        f"{path}: invalid metadata field 'members[1].normalization.std': expected a finite "
        "number > 0, got -1.0")
    assert "'members': expected a list of 1 to 256" in _refused(path, _with_meta(data,
                                                                                 members=[]))


def _meta_dict(data: bytes) -> dict:
    return json.loads(_meta_text(_split(data)[0]))


def _optimizer_state(model) -> dict:
    """The layout of ``torch.optim.Adam(...).state_dict()`` after a step (without importing
    what a real step imports: torch._dynamo, seconds)."""
    params = list(model.parameters())
    return {"state": {i: {"step": torch.tensor(1.0), "exp_avg": torch.zeros_like(p),
                          "exp_avg_sq": torch.zeros_like(p)} for i, p in enumerate(params)},
            "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-08,
                              "params": list(range(len(params)))}]}


def _resume_file(model, path) -> None:
    """A resume state like the Trainer's, written by hand (no training needed)."""
    from emotionkit.training.checkpoint import model_identity, state_tensors

    tensors = state_tensors(model, "model.")
    opt = _optimizer_state(model)
    state = {"epoch": 1, "partial": None, "should_stop": False, "best_stored": False,
             "world_size": 1, "batch_size": 8, "data": {"n_train": 16, "n_val": None},
             "optimizer": pack_state(opt, "optimizer", tensors),
             "scheduler": None, "scaler": None, "callbacks": [],
             "rng": [pack_state({"torch": torch.get_rng_state(),
                                 "numpy": np.random.get_state()}, "rng.0", tensors)]}
    write_checkpoint(path, tensors, {"kind": "resume", **model_identity(model),
                                     "class_names": ["a", "b", "c", "d", "e", "f", "g"],
                                     "train_args": {}, "history": {"epochs": []},
                                     "resume": state})


def test_resume_state_is_checked(tiny_model, tmp_path):
    path = tmp_path / "last.safetensors"
    _resume_file(tiny_model, path)
    data = path.read_bytes()
    tensors, meta = read_checkpoint(path, kinds=("resume",))
    assert load(path).emotionkit_meta["from_resume_state"]
    unpack_state(meta["resume"]["optimizer"], tensors)
    cases = [
        ({"epoch": -1}, "'resume.epoch': expected an integer >= 0, got -1"),
        ({"partial": {"batch": "3"}}, "'resume.partial.batch': expected an integer >= 0"),
        ({"batch_size": 0}, "'resume.batch_size': expected an integer >= 1, got 0"),
        ({"should_stop": 1}, "'resume.should_stop': expected true or false, got 1"),
        ({"data": []}, "'resume.data': expected an object, got []"),
        ({"callbacks": [{"class": "X"}]}, "metadata field 'resume.callbacks[0].state' is missing"),
        ({"optimizer": {"state": {"__items__": [[0]]}}},
         "'resume.optimizer.state.__items__[0]': expected a [key, value] pair, got [0]"),
        ({"rng": [{"numpy": {"__ndarray__": ["rng.0.numpy.1", "O", [624]]}}]},
         "'resume.rng[0].numpy.__ndarray__': expected a numeric numpy dtype, got 'O'"),
    ]
    for change, message in cases:
        state = {**meta["resume"], **change}
        got = _refused(path, _with_meta(data, resume=state))
        assert got.startswith(f"{path}: invalid metadata field ") or "missing" in got, got
        assert message in got, got
    assert _refused(path, _with_meta(data, resume=None)) == (
        f"{path}: metadata field 'resume' is missing (required in a 'resume' checkpoint)")


@pytest.mark.parametrize("packed,message", [
    ({"__tensor__": 5}, "invalid __tensor__ state value: expected a string of 1 to 1,000 "
                        "characters, got 5"),
    ({"__ndarray__": ["k", "O", [1]]}, "invalid __ndarray__ state value: expected a numeric "
                                       "numpy dtype, got 'O'"),
    ({"__ndarray__": ["k", "<u4", [3]]}, "state array 'k' does not fit its dtype '<u4' and "
                                         "shape [3]"),
    ({"__float__": "abc"}, "invalid __float__ state value: expected a float written as text"),
    ({"__items__": [[{"__tuple__": [[1]]}, 2]]}, "state key {'__tuple__': [[1]]} is not "
                                                 "hashable"),
    ({"__items__": 5}, "invalid __items__ state value: expected a list of [key, value] pairs"),
])
def test_unpack_state_refuses_malformed_values(packed, message):
    with pytest.raises(CheckpointError) as exc:
        unpack_state(packed, {"k": torch.zeros(8, dtype=torch.uint8)})
    assert message in str(exc.value)


def test_metadata_outside_the_schema_is_never_written(tiny_model, tmp_path):
    path = tmp_path / "m.safetensors"
    with pytest.raises(CheckpointError) as exc:
        save(tiny_model, path, class_names=["happy", "happy"])
    assert str(exc.value) == (f"{path}: invalid metadata field 'class_names': expected a list "
                              "of 1 to 1,000 class names (without repeats), got ['happy', "
                              "'happy']")
    with pytest.raises(CheckpointError, match="not JSON data: nested 71 levels deep, more "
                                              "than the 64 accepted"):
        save(tiny_model, path, notes=json.loads("[" * 70 + "]" * 70))
    assert not path.exists()


def test_shipped_weights_fit_the_schema():
    from emotionkit.models import pretrained

    path = pretrained._weights_dir() / "compact.safetensors"
    if not path.is_file():
        pytest.skip("no shipped weights in this installation")
    _, meta = read_checkpoint(path, kinds=("model",))
    _checkpoint.validate_metadata(meta, str(path))


# ---------------------------------------------------------------------- NaN / Inf weights
@pytest.mark.parametrize("key,value", [("fc.weight", float("nan")),
                                       ("bn.running_var", float("inf"))])
def test_nan_or_infinite_weights_are_refused(tiny_model, tmp_path, key, value):
    with torch.no_grad():
        tiny_model.state_dict()[key].view(-1)[:2] = value
    path = tmp_path / "nan.safetensors"
    save(tiny_model, path)
    n = tiny_model.state_dict()[key].numel()
    with pytest.raises(CheckpointError) as exc:
        load(path)
    assert str(exc.value) == (f"{path}: tensor {key!r} holds 2 NaN or infinite value(s) of "
                              f"{n:,}; these weights cannot predict")


def test_nan_weights_in_an_ensemble_member(tiny_registered, tmp_path):
    members = [tiny_registered.make(0), tiny_registered.make(1)]
    with torch.no_grad():
        members[1].fc.bias[0] = float("-inf")
    path = tmp_path / "ens.safetensors"
    save(Ensemble(members), path)
    with pytest.raises(CheckpointError) as exc:
        load(path)
    assert str(exc.value) == (f"{path} (member 1): tensor 'members.1.fc.bias' holds 1 NaN or "
                              "infinite value(s) of 7; these weights cannot predict")


# ---------------------------------------------------------------------- configs
def test_config_that_builds_too_many_modules_is_stopped_early(tmp_path):
    import time

    from emotionkit.models import ModelZoo

    small = ModelZoo.create("compact", width=0.125)
    path = tmp_path / "deep.safetensors"
    save(small, path)
    data = path.read_bytes()
    config = {**_meta_dict(data)["model_config"], "width": 0.01, "depth": [1, 2, 2, 10**9]}
    start = time.process_time()
    assert _refused(path, _with_meta(data, model_config=config)) == (
        f"{path}: the stored config of model 'compact' asks for more than 4,000 modules, "
        "parameters and buffers")
    assert time.process_time() - start < 30  # not hours: the build stops at the limit
    config["width"], config["depth"] = 1e30, [1, 2, 2, 2]  # torch's error has a C++ trace
    got = _refused(path, _with_meta(data, model_config=config))
    assert got.startswith(f"{path}: the stored config of model 'compact' does not build: ")


# ---------------------------------------------------------------------- through the CLI
def _cli_error(args) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_cli_refuses_bad_class_names_and_nan_weights(good, tiny_model, tmp_path):
    path, data = good
    face = tmp_path / "face.png"
    Image.fromarray(np.full((48, 48), 128, np.uint8)).save(face)
    path.write_bytes(_with_meta(data, class_names=5))
    line = _cli_error(["explain", "-m", "saliency", "--model", path, face, "--device", "cpu",
                       "--out", tmp_path / "out", "--json"])
    assert line == (f"Error: {path}: invalid metadata field 'class_names': expected a list of "
                    "1 to 1,000 class names, got 5")
    with torch.no_grad():
        tiny_model.fc.weight[0, 0] = float("nan")
    nan = tmp_path / "nan.safetensors"
    save(tiny_model, nan)
    line = _cli_error(["predict", "--model", nan, face, "--device", "cpu", "--json"])
    assert line == (f"Error: {nan}: tensor 'fc.weight' holds 1 NaN or infinite value(s) of "
                    f"{tiny_model.fc.weight.numel():,}; these weights cannot predict")
