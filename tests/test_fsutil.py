"""tgx.fsutil.write_atomic: old or new file, never a mix; permissions as asked."""

from __future__ import annotations

import os

import pytest
from tgx.fsutil import write_atomic


def test_replaces_with_the_requested_mode_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "f.json"
    write_atomic(target, "one")
    write_atomic(target, b"two", mode=0o600)
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.prom"
    write_atomic(target, "old")

    def fail(*_a):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.prom"]
