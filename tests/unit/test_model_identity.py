"""Model identity: what changed in the files, the config and the load, in words."""

from __future__ import annotations

from pathlib import Path

from pytest_triton.baseline.codec import load_spec_dict
from pytest_triton.baseline.model_identity import (
    Subject,
    config_changes,
    file_changes,
    hash_model_dir,
    subject_changes,
)
from pytest_triton.spec import LoadSpec


def _model(root: Path, code: str = "x = 1\n") -> Path:
    (root / "1").mkdir(parents=True)
    (root / "1" / "model.py").write_text(code)
    (root / "config.pbtxt").write_text('backend: "python"\n')
    return root


def test_hash_covers_contents_and_paths_but_not_bytecode(tmp_path: Path) -> None:
    a = hash_model_dir(_model(tmp_path / "a"))
    assert set(a.files) == {"1/model.py", "config.pbtxt"}
    b_dir = _model(tmp_path / "b")
    (b_dir / "1" / "__pycache__").mkdir()
    (b_dir / "1" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0")
    assert hash_model_dir(b_dir).digest == a.digest
    c = hash_model_dir(_model(tmp_path / "c", "x = 2\n"))
    assert c.digest != a.digest
    assert file_changes(a, c) == ["1/model.py changed"]


def test_file_changes_name_added_and_removed(tmp_path: Path) -> None:
    a = hash_model_dir(_model(tmp_path / "a"))
    b_dir = _model(tmp_path / "b")
    (b_dir / "1" / "weights.bin").write_bytes(b"w")
    (b_dir / "config.pbtxt").unlink()
    assert file_changes(a, hash_model_dir(b_dir)) == ["1/weights.bin added", "config.pbtxt removed"]


def test_missing_directory_is_unknown_not_changed(tmp_path: Path) -> None:
    unknown = hash_model_dir(tmp_path / "nope")
    assert unknown.digest == ""
    assert file_changes(unknown, hash_model_dir(_model(tmp_path / "a"))) == []


def test_config_changes_read_like_triton_users_talk() -> None:
    old = {
        "max_batch_size": 8,
        "instance_group": [{"count": 2, "kind": "KIND_CPU"}],
        "input": [{"name": "A", "dims": [4]}, {"name": "B", "dims": [4]}],
    }
    new = {
        "max_batch_size": 8,
        "instance_group": [{"count": 1, "kind": "KIND_CPU"}],
        "input": [{"name": "B", "dims": [4]}, {"name": "A", "dims": [8]}],  # reordered + changed
        "dynamic_batching": {"max_queue_delay_microseconds": 100},
    }
    assert config_changes(old, new) == [
        "dynamic_batching added: {max_queue_delay_microseconds: 100}",
        "input A dims [4] → [8]",
        "instance_group count 2 → 1",
    ]


def test_subject_changes_cover_files_config_and_load(tmp_path: Path) -> None:
    a = Subject(
        "m",
        None,
        hash_model_dir(_model(tmp_path / "a")),
        {"instance_group": [{"count": 2}]},
        {"concurrency": [1, 4]},
    )
    b = Subject(
        "m",
        "2",
        hash_model_dir(_model(tmp_path / "b", "y = 1\n")),
        {"instance_group": [{"count": 1}]},
        {"concurrency": [1, 4, 8]},
    )
    assert subject_changes(a, b) == [
        "model version latest → 2",
        "1/model.py changed",
        "instance_group count 2 → 1",
        "load concurrency [1, 4] → [1, 4, 8]",
    ]
    assert subject_changes(a, a) == []
    assert Subject.from_dict(a.to_dict()) == a


def test_a_load_field_added_since_a_record_was_written_is_not_a_change() -> None:
    # a baseline written before block_pairs existed was measured with its default of 4
    old = Subject("m", load={"concurrency": [4], "window_s": 2.0})
    new = Subject("m", load=load_spec_dict(LoadSpec(concurrency=(4,), window_s=2.0)))
    assert subject_changes(old, new) == []
    more = Subject("m", load=load_spec_dict(LoadSpec(concurrency=(4,), block_pairs=8)))
    assert subject_changes(old, more) == ["load block_pairs 4 → 8"]


def test_an_ensembles_identity_covers_its_composing_models_files(tmp_path: Path) -> None:
    from pytest_triton.baseline.model_identity import hash_with_composing

    steps = [{"model_name": "pre"}, {"model_name": "inner"}]
    for name, text in (("pipe", "ensemble"), ("pre", "x = 1\n"), ("post", "y = 1\n")):
        _model(tmp_path / name, text)
    # a nested ensemble, read from its config.pbtxt
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "config.pbtxt").write_text(
        'platform: "ensemble"\nensemble_scheduling { step [ { model_name: "post" } ] }\n'
    )
    config = {"platform": "ensemble", "ensemble_scheduling": {"step": steps}}
    before = hash_with_composing(tmp_path, "pipe", config)
    assert {"pre/1/model.py", "inner/config.pbtxt", "post/1/model.py"} <= set(before.files)
    (tmp_path / "post" / "1" / "model.py").write_text("y = 2\n")
    after = hash_with_composing(tmp_path, "pipe", config)
    assert file_changes(before, after) == ["post/1/model.py changed"]
    # any other model: its own files only, as before
    plain = hash_with_composing(tmp_path, "pre", {})
    assert plain == hash_model_dir(tmp_path / "pre")
