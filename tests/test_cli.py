"""common.cli: known errors become one line and status 2; Ctrl-C says how to resume."""
from __future__ import annotations

from common.audio import AudioError
from common.cli import run_cli


class _Mine(Exception):
    pass


def _raise(err):
    def action():
        raise err
    return action


def test_known_and_own_errors_are_one_line_with_status_2(capsys):
    assert run_cli(_raise(AudioError("x.wav: file not found; check the path"))) == 2
    assert capsys.readouterr().err == "error: x.wav: file not found; check the path\n"
    assert run_cli(_raise(_Mine("model.h5 missing")), errors=(_Mine,)) == 2
    assert capsys.readouterr().err == "error: model.h5 missing\n"


def test_interrupt_and_status(capsys):
    assert run_cli(_raise(KeyboardInterrupt()), on_interrupt="rerun with --resume") == 130
    assert "interrupted: rerun with --resume" in capsys.readouterr().err
    assert run_cli(lambda: None) == 0 and run_cli(lambda: 3) == 3
    assert run_cli(lambda: {"models": "dir"}) == 0  # a result that is not a status


def test_cli_of_a_missing_dataset_prints_one_line(tmp_path, capsys):
    from oracle.separate import main

    assert main(["--dataset", "mir1k", "--root", str(tmp_path / "nowhere"), "--outdir", str(tmp_path)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "nowhere" in errors[0] and "MIR-1K" in errors[0]
