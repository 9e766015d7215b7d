"""``--media``, ``--max-size`` and friends: parsing and one-line usage errors."""

from __future__ import annotations

import pytest
from tgx.errors import ExitCode, UsageError
from tgx.media import MediaOptions, parse_kinds, parse_size
from tgx.model import FILE_MEDIA_KINDS


def cli(**overrides):
    values = dict(media="all", max_size=None, parallel_files=4, transcode="never", encoder=None, crf=None,
                  replace_originals=False)
    values.update(overrides)
    return MediaOptions.from_cli(**values)


@pytest.mark.parametrize(("text", "expected"), [
    ("1500000", 1_500_000),
    ("50MB", 50_000_000),
    ("50mb", 50_000_000),
    ("50 MB", 50_000_000),
    ("2GiB", 2 * 1024**3),
    ("2G", 2 * 1024**3),
    ("1.5GB", 1_500_000_000),
    ("512KiB", 512 * 1024),
    ("10k", 10 * 1024),
    ("100B", 100),
    ("1TB", 10**12),
    (".5MiB", 512 * 1024),
])
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MB", "12XB", "-5MB", "0", "0.1B", "1e6", "five", "5 M B", "1,000"])
def test_malformed_sizes_are_one_line_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_size(text)
    assert "--max-size" in str(info.value) and "\n" not in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE


def test_kinds() -> None:
    assert parse_kinds("all") == frozenset(FILE_MEDIA_KINDS)
    assert parse_kinds("none") == frozenset()
    assert parse_kinds(None) == frozenset()
    assert parse_kinds("photo") == {"photo"}
    assert parse_kinds(" photo , video ") == {"photo", "video"}
    assert parse_kinds("photos,videos,docs,gif") == {"photo", "video", "document", "animation"}
    assert parse_kinds("all,photo") == frozenset(FILE_MEDIA_KINDS)


@pytest.mark.parametrize("text", ["poll", "photo,bogus", "none,photo"])
def test_unknown_kinds_are_usage_errors_naming_them(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_kinds(text)
    message = str(info.value)
    assert message.startswith("--media:") and "photo, video" in message and "\n" not in message


def test_from_cli_builds_the_options() -> None:
    opts = cli(media="photo,video", max_size="50MB", parallel_files=8, transcode="incompatible",
               encoder=" cpu ", crf=20, replace_originals=True)
    assert opts.kinds == {"photo", "video"}
    assert opts.max_size == 50_000_000
    assert opts.parallel_files == 8 and opts.parallel_parts == 4
    assert opts.transcode == "incompatible" and opts.encoder == "cpu" and opts.crf == 20
    assert opts.replace_originals and opts.enabled
    assert opts.in_flight_cap == 32
    assert not cli(media="none").enabled
    assert cli(parallel_files=1).in_flight_cap == 4


@pytest.mark.parametrize(("overrides", "match"), [
    ({"transcode": "sometimes"}, "--transcode"),
    ({"crf": 60}, "--crf"),
    ({"parallel_files": 0}, "at least 1"),
    ({"max_size": "lots"}, "--max-size"),
])
def test_from_cli_errors(overrides: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        cli(**overrides)
