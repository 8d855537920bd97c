"""Every bad input of the sweep ends in the error contract: exit 2, one line, nothing written.

The cases (visioncircuits/reliability/bad_inputs.py) cover each class the sweep found:
unreadable/bomb images, sizes beyond memory, NaN/negative numbers, wrong-shape cfg.json,
empty strings, duplicates, unwritable --out and malicious pickles, over every command.
"""
from __future__ import annotations

import pytest

from visioncircuits.reliability.bad_inputs import cases, fixtures, judge

pytestmark = pytest.mark.reliability

CLASSES = ("unreadable images", "folder without images", "size beyond memory", "bad number", "bad cfg.json",
           "empty string", "duplicate", "unwritable --out", "malicious pickle")


@pytest.fixture(scope="module")
def bad_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    return fixtures(root)


def test_every_case_belongs_to_a_listed_class(bad_root):
    found = {c.cls for c in cases(bad_root)}
    assert found == set(CLASSES)
    assert len(cases(bad_root)) >= 90


@pytest.mark.parametrize("cls", CLASSES)
def test_bad_inputs_end_in_one_clean_error(bad_root, cls):
    failures = []
    for case in [c for c in cases(bad_root) if c.cls == cls]:
        verdict = judge(case, bad_root["root"])
        if not verdict.clean:
            failures.append(f"{case.name}: {verdict.why()}")
    assert not failures, "\n".join(failures)


def test_unreadable_folder_message_is_true(bad_root):
    """A folder with images that are all unreadable is not 'no images found': it says how many failed."""
    case = next(c for c in cases(bad_root) if c.cls == "unreadable images" and c.name == "gallery")
    err = judge(case, bad_root["root"]).outcome.error_lines()[0]
    assert "none of the 5 image files" in err and "5 unreadable" in err and "no images found" not in err


def test_memory_refusal_names_the_flag(bad_root):
    case = next(c for c in cases(bad_root) if c.name == "render --size")
    err = judge(case, bad_root["root"]).outcome.error_lines()[0]
    assert "--size 100000" in err and "GiB" in err
