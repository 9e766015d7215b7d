"""Safe media file names: whatever Telegram sends, the file lands inside its folder."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tgx.errors import OutputError
from tgx.media.names import (
    MAX_NAME_BYTES,
    FolderNames,
    ext_for_mime,
    inside,
    media_dir,
    open_nofollow,
    safe_name,
    split_ext,
)
from tgx.simulator.content import FILE_NAMES

FALLBACK = "5012345.bin"


def assert_safe(name: str) -> None:
    assert name
    assert name not in (".", "..")
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert name == unicodedata.normalize("NFC", name)
    assert not name.endswith((".", " "))
    assert not name.startswith(".")
    assert not any(unicodedata.category(c) == "Cc" for c in name)
    assert not any(c in '<>:"|?*' for c in name)
    assert "\u202e" not in name


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(raw=st.one_of(st.none(), st.text(max_size=400),
                     st.text(alphabet=st.sampled_from(list("./\\\x00 :*?.\u202e\u0301aéЖ📄")), max_size=60)))
def test_any_name_becomes_a_file_inside_the_folder(tmp_path: Path, raw: str | None) -> None:
    name = safe_name(raw, FALLBACK)
    assert_safe(name)
    assert safe_name(name, FALLBACK) == name  # idempotent: a recorded name is recognized as safe
    path = inside(tmp_path, name)
    assert path.resolve().parent == tmp_path.resolve()
    fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.close(fd)
    assert path.is_file()
    path.unlink()


@pytest.mark.parametrize("raw", FILE_NAMES)
def test_the_simulated_worlds_hostile_names(raw: str) -> None:
    assert_safe(safe_name(raw, FALLBACK))


@pytest.mark.parametrize(("raw", "expected"), [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "_.._etc_passwd"),
    (". .hidden", "hidden"),  # dots and blanks mixed before the name: still no hidden file (found by hypothesis)
    ("a/b\\c:d*e?.bin", "a_b_c_d_e_.bin"),
    ("", FALLBACK),
    (None, FALLBACK),
    ("...", FALLBACK),
    ("  .hidden  ", "hidden"),
    ("trailing dots...", "trailing dots"),
    ("\u202egpj.exe", "_gpj.exe"),
    ("line\nbreak\ttab.txt", "line_break_tab.txt"),
    ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),  # NFC
    ("clip.part", "clip.part_"),  # never looks like a download in progress
])
def test_examples(raw: str | None, expected: str) -> None:
    assert safe_name(raw, FALLBACK) == expected


@pytest.mark.parametrize("raw", ["CON", "con.txt", "Nul", "nul .txt", "COM1.log", "lpt9", "AUX.tar.gz",
                                 "com¹.txt", "CONIN$"])
def test_windows_reserved_device_names_are_prefixed(raw: str) -> None:
    name = safe_name(raw, FALLBACK)
    assert name.startswith("_")
    assert name[1:].lower().startswith(raw.split(".")[0].strip().lower())


def test_not_reserved_when_only_a_prefix() -> None:
    assert safe_name("console.txt", FALLBACK) == "console.txt"
    assert safe_name("com10.txt", FALLBACK) == "com10.txt"


def test_long_names_keep_their_extension_and_fit_in_bytes() -> None:
    name = safe_name("very long name " + "x" * 300 + ".dat", FALLBACK)
    assert name.endswith(".dat") and len(name.encode()) == MAX_NAME_BYTES
    emoji = safe_name("📄" * 100 + ".pdf", FALLBACK)
    assert emoji.endswith(".pdf") and len(emoji.encode()) <= MAX_NAME_BYTES
    assert emoji[:-4] == "📄" * ((MAX_NAME_BYTES - 4) // 4)  # cut on a character boundary


def test_split_ext_and_mime_extensions() -> None:
    assert split_ext("archive.tar.gz") == ("archive.tar", ".gz")
    assert split_ext("README") == ("README", "")
    assert split_ext(".bashrc") == (".bashrc", "")
    assert split_ext("weird.ext with space") == ("weird.ext with space", "")
    assert ext_for_mime("image/jpeg") == ".jpg"
    assert ext_for_mime("video/mp4") == ".mp4"
    assert ext_for_mime("audio/ogg") == ".ogg"
    assert ext_for_mime("application/x-tgsticker") == ".tgs"
    assert ext_for_mime("application/x-no-such-type") == ".bin"
    assert ext_for_mime(None) == ".bin"
    assert ext_for_mime("application/pdf", kind="photo") == ".jpg"


# ---------------------------------------------------------------------------------------------
# collisions


def test_collisions_get_the_media_id_then_a_counter(tmp_path: Path) -> None:
    names = FolderNames(tmp_path)
    assert names.claim("video.mp4", 1) == "video.mp4"
    assert names.claim("video.mp4", 2) == "video-2.mp4"
    assert names.claim("VIDEO.mp4", 3) == "VIDEO-3.mp4"  # case-insensitive: one file on macOS/Windows
    assert names.claim("video.mp4", 1) == "video.mp4"  # the same owner gets its name back
    (tmp_path / "doc.pdf").write_bytes(b"x")
    (tmp_path / "doc-7.pdf").write_bytes(b"x")
    (tmp_path / "part.bin.part").write_bytes(b"x")  # a download in progress reserves "part.bin"
    fresh = FolderNames(tmp_path)
    assert fresh.claim("doc.pdf", 7) == "doc-7(2).pdf"
    assert fresh.claim("part.bin", 8) == "part-8.bin"


def test_collision_suffix_still_fits(tmp_path: Path) -> None:
    names = FolderNames(tmp_path)
    long = safe_name("y" * 400 + ".mkv", FALLBACK)
    assert names.claim(long, 1) == long
    other = names.claim(long, 123456789012345)
    assert other.endswith("-123456789012345.mkv") and len(other.encode()) <= MAX_NAME_BYTES


def test_recorded_names_stay_reserved_for_their_owner(tmp_path: Path) -> None:
    recorded = {"report.pdf": 10}
    names = FolderNames(tmp_path, lambda name, owner: recorded.get(name, owner) != owner)
    assert names.claim("report.pdf", 11) == "report-11.pdf"
    assert names.claim("report.pdf", 10) == "report.pdf"
    assert names.keep("report.pdf", 10)
    assert not names.keep("report-11.pdf", 12)


# ---------------------------------------------------------------------------------------------
# symlinks and escaping the output directory


def test_media_dir_creates_nested_folders_inside_out(tmp_path: Path) -> None:
    folder = media_dir(tmp_path, "chat", "media", "photo")
    assert folder == tmp_path / "chat" / "media" / "photo" and folder.is_dir()


def test_media_dir_refuses_a_symlinked_media_folder(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    (out / "chat").mkdir(parents=True)
    (out / "chat" / "media").symlink_to(elsewhere)
    with pytest.raises(OutputError, match="symbolic link"):
        media_dir(out, "chat", "media", "photo")
    assert not (elsewhere / "photo").exists()


@pytest.mark.parametrize("part", ["..", ".", "", "a/b", "a\\b"])
def test_media_dir_refuses_unsafe_components(tmp_path: Path, part: str) -> None:
    with pytest.raises(OutputError):
        media_dir(tmp_path, "chat", part)


def test_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    folder = media_dir(tmp_path, "chat", "media", "document")
    (folder / "evil.pdf").symlink_to(target)
    (folder / "evil.pdf.part").symlink_to(target)
    with pytest.raises(OutputError, match="symbolic link"):
        inside(folder, "evil.pdf")
    with pytest.raises(OutputError, match="symbolic link"):
        open_nofollow(folder / "evil.pdf.part", os.O_WRONLY | os.O_CREAT)
    assert target.read_text() == "keep me"
    assert FolderNames(folder).claim("evil.pdf", 5) == "evil-5.pdf"  # the link's name is taken


@pytest.mark.parametrize("bad", ["..", ".", "", "a/b", "x\x00y"])
def test_inside_refuses_names_that_are_not_one_component(tmp_path: Path, bad: str) -> None:
    with pytest.raises(OutputError):
        inside(tmp_path, bad)
