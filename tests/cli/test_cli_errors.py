"""The CLI turns unusable output paths into one error line and exit code 2, not a traceback."""
from __future__ import annotations

from visioncircuits.cli import main


def test_output_path_under_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    rc = main(["demo", "--quick", "--stages", "toyzoo", "--out", str(blocker / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert blocker.read_text() == "x"
