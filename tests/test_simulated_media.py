"""Files through Telethon's real download code: exact bytes, part rules, other DCs, references."""

from __future__ import annotations

import pytest
from telethon import errors
from telethon.tl import functions, types
from tgx.simulator.content import file_bytes
from tgx.testing import SimulatedTelegram

KIND_OF_SHOWCASE = ("photo", "album_photo", "video", "document", "doc_128k", "doc_other_dc", "voice", "sticker",
                    "audio", "animation", "round", "big_video")



@pytest.fixture
def world() -> SimulatedTelegram:
    return SimulatedTelegram(seed=4, messages=300, big_file_mb=2)


def test_download_media_returns_the_exact_bytes_of_every_file_kind(world):
    ids = {kind: world.find("tgx_demo", kind) for kind in KIND_OF_SHOWCASE}

    async def go(client):
        out = {}
        for kind, message_id in ids.items():
            message = await client.get_messages("tgx_demo", ids=message_id)
            out[kind] = await client.download_media(message, file=bytes)
        return out

    got = world.run(go)
    for kind, message_id in ids.items():
        expected = world.expected_file("tgx_demo", message_id)
        assert got[kind] == expected, kind
        assert len(expected) == world.media_of("tgx_demo", message_id).size
    assert got["photo"].startswith(b"\xff\xd8\xff") and got["video"][4:8] == b"ftyp"
    assert len(got["big_video"]) == 2 * 1024 * 1024


def test_size_multiple_of_the_part_size_gets_one_more_request_answered_empty(world):
    message_id = world.find("tgx_demo", "doc_128k")
    media = world.media_of("tgx_demo", message_id)
    assert media.size % (128 * 1024) == 0

    async def go(client):
        message = await client.get_messages("tgx_demo", ids=message_id)
        return await client.download_media(message, file=bytes)

    assert world.run(go) == world.expected_file("tgx_demo", message_id)
    parts = [(r["offset"], r["limit"], r["error"]) for r in world.request_log
             if r["type"] == "GetFileRequest" and r["media_id"] == media.media_id]
    assert parts == [(i * 131072, 131072, None) for i in range(4)]  # the 4th, at offset = size, is empty


def test_file_on_another_dc_goes_through_an_exported_sender(world):
    message_id = world.find("tgx_demo", "doc_other_dc")
    media = world.media_of("tgx_demo", message_id)
    assert media.dc_id == world.other_dc != world.home_dc

    async def go(client):
        message = await client.get_messages("tgx_demo", ids=message_id)
        data = await client.download_media(message, file=bytes)
        # the home DC refuses it and names the right one
        location = types.InputDocumentFileLocation(media.media_id, media.access_hash,
                                                   message.media.document.file_reference, "")
        with pytest.raises(errors.FileMigrateError) as caught:
            await client(functions.upload.GetFileRequest(location, 0, 4096))
        return data, caught.value.new_dc

    data, new_dc = world.run(go)
    assert data == world.expected_file("tgx_demo", message_id)
    assert new_dc == world.other_dc
    counts = world.request_counts()
    assert counts["ExportAuthorizationRequest"] == 1 and counts["ImportAuthorizationRequest"] == 1
    dcs = {r["dc"] for r in world.request_log if r["type"] == "GetFileRequest" and r["media_id"] == media.media_id}
    assert dcs == {world.home_dc, world.other_dc}


def test_thumbnails_and_shared_stickers(world):
    video_id = world.find("tgx_demo", "video")
    sticker_a = world.find("tgx_demo", "sticker")

    async def go(client):
        video = await client.get_messages("tgx_demo", ids=video_id)
        thumb = await client.download_media(video, file=bytes, thumb=-1)
        stickers = [m async for m in client.iter_messages("tgx_demo", wait_time=0)
                    if m.sticker is not None]
        return thumb, stickers

    thumb, stickers = world.run(go)
    assert thumb == world.expected_file("tgx_demo", video_id, "m")
    assert any(m.id == sticker_a for m in stickers)
    ids = [m.sticker.id for m in stickers]
    assert len(set(ids)) < len(ids)  # the same document in several messages: dedupe material


def test_get_file_offset_and_limit_rules(world):
    message_id = world.find("tgx_demo", "video")
    media = world.media_of("tgx_demo", message_id)

    async def go(client):
        message = await client.get_messages("tgx_demo", ids=message_id)
        doc = message.media.document
        location = types.InputDocumentFileLocation(doc.id, doc.access_hash, doc.file_reference, "")

        async def get(offset, limit, precise=None):
            r = await client(functions.upload.GetFileRequest(location, offset, limit, precise=precise))
            return r.bytes

        results = {
            "ok": await get(1024 * 1024, 512 * 1024),
            "tail": await get(media.size - media.size % 4096, 4096),
            "past_end": await get(((media.size // 4096) + 8) * 4096, 4096),
            "precise": await get(1024, 3 * 1024, precise=True),
        }
        for offset, limit, error in ((100, 4096, errors.OffsetInvalidError), (0, 5000, errors.LimitInvalidError),
                                     (0, 3 * 4096, errors.LimitInvalidError),  # 1 MiB not divisible by it
                                     (1024 * 1024 - 4096, 8192, errors.LimitInvalidError)):  # crosses 1 MiB
            with pytest.raises(error):
                await get(offset, limit)
        bad = types.InputDocumentFileLocation(doc.id, doc.access_hash + 1, doc.file_reference, "")
        with pytest.raises(errors.FileIdInvalidError):
            await client(functions.upload.GetFileRequest(bad, 0, 4096))
        return results

    r = world.run(go)
    full = world.expected_file("tgx_demo", message_id)
    assert r["ok"] == full[1024 * 1024:1024 * 1024 + 512 * 1024]
    assert r["tail"] == full[media.size - media.size % 4096:]
    assert r["past_end"] == b""
    assert r["precise"] == full[1024:4096]


def test_file_bytes_are_a_pure_function_of_file_and_offset():
    size = 300_000
    whole = file_bytes(42, size, 0, size, "video/mp4")
    assert len(whole) == size and whole[4:8] == b"ftyp"
    for offset, limit in ((0, 5), (4095, 2), (4096, 4096), (123_457, 99_999), (299_990, 4096)):
        assert file_bytes(42, size, offset, limit, "video/mp4") == whole[offset:offset + limit]
    assert file_bytes(43, size, 0, size, "video/mp4") != whole
    blocks = {whole[i:i + 4096] for i in range(0, size - 4096, 4096)}
    assert len(blocks) == len(range(0, size - 4096, 4096))  # no two blocks alike: misplaced parts show


def test_expired_file_reference_is_refreshed_by_telethon_for_documents(world):
    message_id = world.find("tgx_demo", "document")
    world.faults.file_reference_expired(after=0, times=1)

    async def go(client):
        message = await client.get_messages("tgx_demo", ids=message_id)
        return await client.download_media(message, file=bytes)

    assert world.run(go) == world.expected_file("tgx_demo", message_id)
    errors_seen = [r["error"] for r in world.request_log if r["type"] == "GetFileRequest"]
    assert errors_seen[0] == "400 FILE_REFERENCE_EXPIRED" and errors_seen[-1] is None
    assert world.request_counts()["GetMessagesRequest"] == 2  # Telethon re-fetched the message


def test_expired_file_reference_of_a_photo_reaches_the_caller(world):
    message_id = world.find("tgx_demo", "photo")

    async def go(client):
        message = await client.get_messages("tgx_demo", ids=message_id)
        world.expire_file_references()  # e.g. hours passed since the message was fetched
        with pytest.raises(errors.FileReferenceExpiredError):
            await client.download_media(message, file=bytes)
        fresh = await client.get_messages("tgx_demo", ids=message_id)  # what an exporter must do
        return await client.download_media(fresh, file=bytes)

    assert world.run(go) == world.expected_file("tgx_demo", message_id)
