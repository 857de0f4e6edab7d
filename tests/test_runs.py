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


def test_separated_audio_and_npz_files_get_the_usual_mode_not_mkstemps_private_one(tmp_path):
    """save_audio (every separate CLI's stems) and the npz writers go through a temporary file too; the result
    must be readable as a plain open() would make it (0666 minus the umask), not 0600."""
    import numpy as np

    from common.audio import save_audio
    from xumx_slicq.data import save_statistics

    umask = os.umask(0)
    os.umask(umask)
    wav = save_audio(tmp_path / "sep" / "vocals.wav", np.zeros((1, 160), np.float32), 16000)
    save_statistics(tmp_path / "stats.npz", [np.zeros(3)], [np.ones(3)])
    for written in (wav, tmp_path / "stats.npz"):
        assert written.stat().st_mode & 0o777 == 0o666 & ~umask, written
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["sep", "stats.npz", "vocals.wav"]   # no temporary left
