"""common.runs: the atomic writers every training run and model folder uses."""
import json
import os
from pathlib import Path

import pytest

from common.runs import write_json_atomic, write_text_atomic


def test_write_json_atomic_creates_parents_and_writes_paths_as_strings(tmp_path):
    target = tmp_path / "run" / "state.json"
    assert write_json_atomic(target, {"out": Path("work/x"), "epoch": 3}) == target
    assert target.read_text().endswith("}\n")
    assert json.loads(target.read_text()) == {"out": "work/x", "epoch": 3}
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]       # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask                  # not mkstemp's private 0600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = write_text_atomic(tmp_path / "config.json", "old\n")
    with pytest.raises(TypeError):
        write_text_atomic(target, b"not text")          # fails inside the write, after the temporary exists
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
