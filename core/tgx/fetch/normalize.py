"""Raw Telethon TL objects → :mod:`tgx.model`: the normalization step of every export.

This is the hot path: it runs once per fetched message. It works on the *raw* TL objects that
``messages.GetHistory`` returns (``telethon.tl.types.Message``/``MessageService``/``MessageEmpty``),
never on Telethon's custom ``Message`` wrapper, whose per-message set-up costs a third of the
decode time. Dispatch is by exact type through dicts built once at import (one hash lookup per
entity/media/action instead of ``isinstance`` chains); subclasses fall back to an MRO walk.

Ids are *marked* ids (``telethon.utils.get_peer_id``): users positive, basic groups ``-id``,
channels ``-100…``. Entity offsets/lengths are copied untouched (UTF-16 code units, as Telegram
counts them). Unknown TL constructors never raise: unknown entities are skipped, unknown media
become ``unsupported``, unknown actions get a generic snake_case name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from telethon.tl import types as tl

from tgx.model import Action, Entity, Forward, Media, Message, Peer, Reaction, utc
from tgx.telegram.ids import CHANNEL_MARK, peer_id

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

__all__ = [
    "action_name", "convert_action", "convert_entities", "convert_media", "convert_message",
    "convert_messages", "convert_peer", "convert_peers", "generated_class", "peer_id",
]


# ---------------------------------------------------------------------------------------------
# small helpers


def _date(value: Any) -> datetime | None:
    """TL dates are aware UTC datetimes already; hand-built objects may pass naive ones or ints."""
    if value is None:
        return None
    if type(value) is datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return utc(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _text(value: Any) -> str:
    """``TextWithEntities`` (newer layers) or a plain str (older layers) → str."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return getattr(value, "text", "") or ""


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _build_dispatch(table: dict[type, Any]) -> Callable[[type], Any]:
    """Exact-type lookup with an MRO fallback (for subclasses), memoized per type."""

    def lookup(cls: type) -> Any:
        for base in cls.__mro__:
            hit = table.get(base)
            if hit is not None:
                table[cls] = hit
                return hit
        return None

    return lookup


# ---------------------------------------------------------------------------------------------
# entities

_ENTITY_NAMES: dict[type, str] = {
    tl.MessageEntityBold: "bold",
    tl.MessageEntityItalic: "italic",
    tl.MessageEntityUnderline: "underline",
    tl.MessageEntityStrike: "strikethrough",
    tl.MessageEntitySpoiler: "spoiler",
    tl.MessageEntityBlockquote: "blockquote",
    tl.MessageEntityCode: "code",
    tl.MessageEntityMention: "mention",
    tl.MessageEntityHashtag: "hashtag",
    tl.MessageEntityCashtag: "cashtag",
    tl.MessageEntityBotCommand: "bot_command",
    tl.MessageEntityUrl: "link",
    tl.MessageEntityEmail: "email",
    tl.MessageEntityPhone: "phone",
    tl.MessageEntityBankCard: "bank_card",
}


def _input_user_id(user: Any) -> int | None:
    return getattr(user, "user_id", None)


_ENTITY_SPECIAL: dict[type, Callable[[Any], Entity]] = {
    tl.MessageEntityPre: lambda e: Entity("pre", e.offset, e.length, language=e.language or None),
    tl.MessageEntityTextUrl: lambda e: Entity("text_link", e.offset, e.length, url=e.url),
    tl.MessageEntityMentionName: lambda e: Entity("mention_name", e.offset, e.length, user_id=e.user_id),
    tl.InputMessageEntityMentionName: lambda e: Entity(
        "mention_name", e.offset, e.length, user_id=_input_user_id(e.user_id)),
    tl.MessageEntityCustomEmoji: lambda e: Entity(
        "custom_emoji", e.offset, e.length, document_id=e.document_id),
}
_SKIP = object()


def _entity_fallback(cls: type) -> Any:
    for base in cls.__mro__[1:]:
        if base in _ENTITY_NAMES:
            _ENTITY_NAMES[cls] = _ENTITY_NAMES[base]
            return _ENTITY_NAMES[cls]
        if base in _ENTITY_SPECIAL:
            _ENTITY_SPECIAL[cls] = _ENTITY_SPECIAL[base]
            return _ENTITY_SPECIAL[cls]
    _ENTITY_NAMES[cls] = _SKIP  # type: ignore[assignment]
    return _SKIP


def convert_entities(entities: Iterable[Any] | None) -> list[Entity]:
    """``MessageEntity*`` → :class:`Entity` with Telegram Desktop's type names; unknown ones are skipped."""
    out: list[Entity] = []
    if not entities:
        return out
    names = _ENTITY_NAMES
    special = _ENTITY_SPECIAL
    for e in entities:
        cls = type(e)
        name = names.get(cls)
        if name is not None:
            if name is not _SKIP:
                out.append(Entity(name, e.offset, e.length))
            continue
        make = special.get(cls)
        if make is None:
            hit = _entity_fallback(cls)
            if hit is _SKIP:
                continue
            if isinstance(hit, str):
                out.append(Entity(hit, e.offset, e.length))
                continue
            make = hit
        out.append(make(e))
    return out


# ---------------------------------------------------------------------------------------------
# media


def _photo_best_size(sizes: Iterable[Any]) -> tuple[int | None, int | None, int | None]:
    """(bytes, w, h) of the largest downloadable size: what ``download_media`` would fetch."""
    best = None
    for s in sizes or ():
        cls = type(s)
        if cls is tl.PhotoSize:
            size = s.size
        elif cls is tl.PhotoSizeProgressive:
            size = max(s.sizes) if s.sizes else 0
        elif cls is tl.PhotoCachedSize:
            size = len(s.bytes)
        else:  # stripped / path / empty sizes are previews, not the photo
            continue
        if best is None or size >= best[0]:
            best = (size, s.w, s.h)
    return best if best is not None else (None, None, None)


def _media_photo(m: Any) -> Media:
    photo = m.photo
    spoiler = bool(m.spoiler)
    if type(photo) is not tl.Photo:  # None (expired) or PhotoEmpty
        return Media("photo", getattr(photo, "id", None), spoiler=spoiler)
    size, w, h = _photo_best_size(photo.sizes)
    return Media("photo", photo.id, photo.dc_id, None, "image/jpeg", size, w, h, spoiler=spoiler)


_A_VIDEO = tl.DocumentAttributeVideo
_A_AUDIO = tl.DocumentAttributeAudio
_A_STICKER = tl.DocumentAttributeSticker
_A_ANIMATED = tl.DocumentAttributeAnimated
_A_FILENAME = tl.DocumentAttributeFilename
_A_IMAGE = tl.DocumentAttributeImageSize
_A_CUSTOM_EMOJI = tl.DocumentAttributeCustomEmoji


def _media_document(m: Any) -> Media:
    doc = m.document
    spoiler = bool(m.spoiler)
    if type(doc) is not tl.Document:  # None (expired) or DocumentEmpty
        return Media("document", getattr(doc, "id", None), spoiler=spoiler)
    video = audio = sticker = None
    animated = False
    file_name = None
    width = height = None
    for a in doc.attributes:
        cls = type(a)
        if cls is _A_FILENAME:
            file_name = a.file_name
        elif cls is _A_VIDEO:
            video = a
        elif cls is _A_AUDIO:
            audio = a
        elif cls is _A_STICKER or cls is _A_CUSTOM_EMOJI:
            sticker = a
        elif cls is _A_ANIMATED:
            animated = True
        elif cls is _A_IMAGE:
            width, height = a.w, a.h
    duration = performer = title = emoji = None
    if video is not None:
        width, height = video.w, video.h
        duration = float(video.duration) if video.duration is not None else None
    if sticker is not None:
        kind = "sticker"
        emoji = sticker.alt or None
    elif animated:
        kind = "animation"
    elif video is not None:
        kind = "round" if video.round_message else "video"
    elif audio is not None:
        kind = "voice" if audio.voice else "audio"
    else:
        kind = "document"
    if audio is not None:
        if duration is None and audio.duration is not None:
            duration = float(audio.duration)
        performer = audio.performer
        title = audio.title
    return Media(kind, doc.id, doc.dc_id, file_name, doc.mime_type, doc.size, width, height, duration,
                 performer, title, emoji, spoiler)


def _poll(m: Any) -> Media:
    poll = m.poll
    results = m.results
    voters: dict[bytes, Any] = {}
    total = None
    if results is not None:
        total = results.total_voters
        for r in results.results or ():
            voters[r.option] = r
    answers = []
    for a in poll.answers:
        r = voters.get(a.option)
        answers.append({
            "text": _text(a.text),
            "voters": (r.voters or 0) if r is not None else 0,
            "chosen": bool(r.chosen) if r is not None else False,
            "correct": bool(r.correct) if r is not None else False,
        })
    extra = {
        "question": _text(poll.question), "closed": bool(poll.closed), "total_voters": total or 0,
        "quiz": bool(poll.quiz), "multiple_choice": bool(poll.multiple_choice), "answers": answers,
    }
    return Media("poll", poll.id, extra=extra)


def _geo_point(geo: Any) -> dict[str, Any]:
    if type(geo) is tl.GeoPoint:
        return {"latitude": geo.lat, "longitude": geo.long}
    return {"latitude": None, "longitude": None}


def _geo(m: Any) -> Media:
    return Media("geo", extra=_geo_point(m.geo))


def _geo_live(m: Any) -> Media:
    extra = _geo_point(m.geo)
    extra.update(live=True, period=m.period, heading=m.heading)
    return Media("geo", extra=extra)


def _venue(m: Any) -> Media:
    extra = _geo_point(m.geo)
    extra.update(title=m.title, address=m.address, provider=m.provider, venue_id=m.venue_id,
                 venue_type=m.venue_type)
    return Media("venue", title=m.title, extra=extra)


def _contact(m: Any) -> Media:
    extra = {"phone_number": m.phone_number, "first_name": m.first_name, "last_name": m.last_name,
             "vcard": m.vcard, "user_id": m.user_id or None}
    return Media("contact", extra=extra)


def _webpage(m: Any) -> Media:
    page = m.webpage
    if type(page) is tl.WebPage:
        extra = {"url": page.url, "display_url": page.display_url, "type": page.type,
                 "site_name": page.site_name, "title": page.title, "description": page.description}
        return Media("webpage", page.id, title=page.title, extra=extra)
    return Media("webpage", getattr(page, "id", None), extra={"url": getattr(page, "url", None)})


def _dice(m: Any) -> Media:
    return Media("dice", emoji=m.emoticon, extra={"emoticon": m.emoticon, "value": m.value})


def _game(m: Any) -> Media:
    g = m.game
    extra = {"title": g.title, "description": g.description, "short_name": g.short_name}
    return Media("game", g.id, title=g.title, extra=extra)


def _invoice(m: Any) -> Media:
    extra = {"title": m.title, "description": m.description, "currency": m.currency,
             "total_amount": m.total_amount, "receipt_msg_id": m.receipt_msg_id}
    return Media("invoice", title=m.title, extra=extra)


def _story(m: Any) -> Media:
    return Media("story", m.id, extra={"peer_id": peer_id(m.peer), "story_id": m.id})


def _unsupported(m: Any) -> Media:
    return Media("unsupported", extra={"type": _snake(type(m).__name__.removeprefix("MessageMedia"))})


_MEDIA: dict[type, Callable[[Any], Media | None]] = {
    tl.MessageMediaPhoto: _media_photo,
    tl.MessageMediaDocument: _media_document,
    tl.MessageMediaPoll: _poll,
    tl.MessageMediaGeo: _geo,
    tl.MessageMediaGeoLive: _geo_live,
    tl.MessageMediaVenue: _venue,
    tl.MessageMediaContact: _contact,
    tl.MessageMediaWebPage: _webpage,
    tl.MessageMediaDice: _dice,
    tl.MessageMediaGame: _game,
    tl.MessageMediaInvoice: _invoice,
    tl.MessageMediaStory: _story,
    tl.MessageMediaEmpty: lambda m: None,
}
_media_lookup = _build_dispatch(_MEDIA)


def convert_media(media: Any) -> Media | None:
    """``MessageMedia*`` → :class:`Media` (``None`` for no/empty media; unknown → ``unsupported``)."""
    if media is None:
        return None
    make = _MEDIA.get(type(media)) or _media_lookup(type(media)) or _unsupported
    return make(media)


# ---------------------------------------------------------------------------------------------
# service actions (Telegram Desktop's export names)


def _reply_msg_id(msg: Any) -> int | None:
    r = msg.reply_to
    return getattr(r, "reply_to_msg_id", None) if r is not None else None


def _discard_reason(reason: Any) -> str | None:
    if reason is None:
        return None
    return _snake(type(reason).__name__.removeprefix("PhoneCallDiscardReason"))


def _photo_id(photo: Any) -> int | None:
    return getattr(photo, "id", None)


def _amount(a: Any) -> dict[str, Any]:
    return {"amount": a.total_amount, "currency": a.currency}


_ActionFn = Callable[[Any, Any], dict[str, Any]]
_ACTIONS: dict[type, tuple[str, _ActionFn]] = {
    tl.MessageActionChatCreate: ("create_group", lambda a, m: {"title": a.title, "members": list(a.users)}),
    tl.MessageActionChannelCreate: ("create_channel", lambda a, m: {"title": a.title}),
    tl.MessageActionChatAddUser: ("invite_members", lambda a, m: {"members": list(a.users)}),
    tl.MessageActionChatDeleteUser: ("remove_members", lambda a, m: {"members": [a.user_id]}),
    tl.MessageActionChatJoinedByLink: ("join_group_by_link", lambda a, m: {"inviter_id": a.inviter_id}),
    tl.MessageActionChatJoinedByRequest: ("join_group_by_request", lambda a, m: {}),
    tl.MessageActionPinMessage: ("pin_message", lambda a, m: {"message_id": _reply_msg_id(m)}),
    tl.MessageActionChatEditTitle: ("edit_group_title", lambda a, m: {"title": a.title}),
    tl.MessageActionChatEditPhoto: ("edit_group_photo", lambda a, m: {"photo_id": _photo_id(a.photo)}),
    tl.MessageActionChatDeletePhoto: ("delete_group_photo", lambda a, m: {}),
    tl.MessageActionChatMigrateTo: (
        "migrate_to_supergroup", lambda a, m: {"channel_id": -CHANNEL_MARK - a.channel_id}),
    tl.MessageActionChannelMigrateFrom: (
        "migrate_from_group", lambda a, m: {"title": a.title, "chat_id": -a.chat_id}),
    tl.MessageActionTopicCreate: ("topic_created", lambda a, m: {
        "title": a.title, "icon_color": a.icon_color, "icon_emoji_id": a.icon_emoji_id}),
    tl.MessageActionTopicEdit: ("topic_edit", lambda a, m: {
        "title": a.title, "icon_emoji_id": a.icon_emoji_id, "closed": a.closed, "hidden": a.hidden}),
    tl.MessageActionPhoneCall: ("phone_call", lambda a, m: {
        "duration": a.duration, "discard_reason": _discard_reason(a.reason), "video": bool(a.video)}),
    tl.MessageActionGroupCall: ("group_call", lambda a, m: {"duration": a.duration}),
    tl.MessageActionGroupCallScheduled: ("group_call_scheduled", lambda a, m: {
        "schedule_date": _iso(_date(a.schedule_date))}),
    tl.MessageActionInviteToGroupCall: ("invite_to_group_call", lambda a, m: {"members": list(a.users)}),
    tl.MessageActionHistoryClear: ("clear_history", lambda a, m: {}),
    tl.MessageActionScreenshotTaken: ("take_screenshot", lambda a, m: {}),
    tl.MessageActionCustomAction: ("custom_action", lambda a, m: {"text": a.message}),
    tl.MessageActionGameScore: ("score_in_game", lambda a, m: {
        "game_message_id": _reply_msg_id(m), "score": a.score}),
    tl.MessageActionPaymentSent: ("send_payment", lambda a, m: {
        **_amount(a), "invoice_message_id": _reply_msg_id(m)}),
    tl.MessageActionContactSignUp: ("joined_telegram", lambda a, m: {}),
    tl.MessageActionSetMessagesTTL: ("set_messages_ttl", lambda a, m: {"period": a.period}),
    tl.MessageActionBotAllowed: ("allow_sending_messages", lambda a, m: {"domain": a.domain}),
    tl.MessageActionGeoProximityReached: ("proximity_reached", lambda a, m: {
        "from_id": peer_id(a.from_id), "to_id": peer_id(a.to_id), "distance": a.distance}),
    tl.MessageActionWebViewDataSent: ("send_webview_data", lambda a, m: {"text": a.text}),
    tl.MessageActionGiftPremium: ("send_premium_gift", lambda a, m: {
        "amount": a.amount, "currency": a.currency, "months": getattr(a, "months", None),
        "days": getattr(a, "days", None)}),
    tl.MessageActionSuggestProfilePhoto: ("suggest_profile_photo", lambda a, m: {
        "photo_id": _photo_id(a.photo)}),
    tl.MessageActionRequestedPeer: ("requested_peer", lambda a, m: {
        "peers": [peer_id(p) for p in a.peers]}),
    tl.MessageActionBoostApply: ("boost_apply", lambda a, m: {"boosts": a.boosts}),
}
_action_lookup = _build_dispatch(_ACTIONS)

_SCALARS = (str, int, float, bool)


def _generic_action(action: Any) -> Action:
    """Name from the class (``MessageActionFooBar`` → ``foo_bar``), data from its plain fields."""
    data: dict[str, Any] = {}
    for key, value in action.to_dict().items():
        if key == "_":
            continue
        if value is None or isinstance(value, _SCALARS):
            data[key] = value
        elif isinstance(value, datetime):
            data[key] = _iso(_date(value))
        elif isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value):
            data[key] = list(value)
    return Action(action_name(action), data)


def action_name(action: Any) -> str:
    """Telegram Desktop's name for a ``MessageAction*`` (generic snake_case when it has none)."""
    hit = _ACTIONS.get(type(action)) or _action_lookup(type(action))
    if hit is not None:
        return hit[0]
    return _snake(type(action).__name__.removeprefix("MessageAction"))


def convert_action(action: Any, msg: Any = None) -> Action | None:
    """``MessageAction*`` → :class:`Action`; ``msg`` supplies ``reply_to`` (pinned/score/invoice ids)."""
    if action is None or type(action) is tl.MessageActionEmpty:
        return None
    hit = _ACTIONS.get(type(action)) or _action_lookup(type(action))
    if hit is None:
        return _generic_action(action)
    name, make = hit
    return Action(name, make(action, msg))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# ---------------------------------------------------------------------------------------------
# reactions and forwards


def _reactions(reactions: Any) -> list[Reaction]:
    out: list[Reaction] = []
    for rc in reactions.results or ():
        r = rc.reaction
        cls = type(r)
        chosen = rc.chosen_order is not None
        if cls is tl.ReactionEmoji:
            out.append(Reaction("emoji", rc.count, r.emoticon, None, chosen))
        elif cls is tl.ReactionCustomEmoji:
            out.append(Reaction("custom_emoji", rc.count, None, r.document_id, chosen))
        elif cls is tl.ReactionPaid:
            out.append(Reaction("paid", rc.count, None, None, chosen))
    return out


def _forward(f: Any) -> Forward:
    return Forward(peer_id(f.from_id), f.from_name, _date(f.date), f.channel_post, f.post_author,
                   peer_id(f.saved_from_peer), f.saved_from_msg_id)


# ---------------------------------------------------------------------------------------------
# messages


_TL_MODULE = "telethon.tl.types"


def generated_class(cls: type) -> type:
    """The TL class Telethon generated for ``cls``: it patches ``types.Message``,
    ``MessageService`` and ``MessageEmpty`` into subclasses that mix in its custom ``Message``
    wrapper; the generated base parses ~13 % faster (:mod:`tgx.fetch.pages`'s workers use it)."""
    for base in cls.__mro__:
        if base.__module__ == _TL_MODULE and base.__name__ == cls.__name__:
            return base
    return cls


_TL_MESSAGE = generated_class(tl.Message)  # isinstance() of it also holds for Telethon's wrapper
_TL_SERVICE = generated_class(tl.MessageService)
_SERVICE_BY_TYPE = {tl.Message: False, _TL_MESSAGE: False, tl.MessageService: True, _TL_SERVICE: True}
_TL_REPLY = tl.MessageReplyHeader
_PEER_USER = tl.PeerUser


def convert_message(msg: Any, chat_id: int, self_id: int | None = None) -> Message | None:
    """One raw TL message → :class:`Message` (``None`` for ``MessageEmpty`` and non-messages).

    :param chat_id: the marked id of the chat being exported (the message's ``peer_id`` is
        not re-derived: a message fetched from a chat belongs to it).
    :param self_id: the logged-in user's id, used as the sender of outgoing private-chat
        messages that carry no ``from_id``.

    Sender: ``from_id`` when present; else, in a private chat, the other user for incoming
    messages (Telegram omits ``from_id`` there) or ``self_id`` for outgoing ones; anonymous
    channel posts get ``None``. Forum topics: a message in a topic has
    ``reply_to.forum_topic``; its ``topic_id`` is ``reply_to_top_id`` (a reply inside the
    topic) or ``reply_to_msg_id`` (a plain post in the topic, which is then *not* a reply).
    Messages of the "General" topic carry no ``reply_to`` and get ``topic_id=None``.
    """
    service = _SERVICE_BY_TYPE.get(type(msg))
    if service is None:
        if isinstance(msg, _TL_MESSAGE):
            service = False
        elif isinstance(msg, _TL_SERVICE):
            service = True
        else:
            return None  # MessageEmpty, None, not a message

    # sender
    from_id = msg.from_id
    if from_id is not None:
        fcls = type(from_id)
        if fcls is _PEER_USER:
            sender_id: int | None = from_id.user_id
        else:
            sender_id = peer_id(from_id)
    else:
        sender_id = None
        p = msg.peer_id
        if type(p) is _PEER_USER:
            sender_id = self_id if msg.out else p.user_id

    # dates
    date = msg.date
    if date is None:
        date = _EPOCH
    elif type(date) is not datetime or date.tzinfo is None:
        date = _date(date)
    edit_date = msg.edit_date
    if edit_date is not None:
        if msg.edit_hide:
            edit_date = None
        elif type(edit_date) is not datetime or edit_date.tzinfo is None:
            edit_date = _date(edit_date)

    # reply / topic
    reply_to_id = reply_to_peer = topic_id = reply_top = None
    r = msg.reply_to
    if r is not None and type(r) is _TL_REPLY:
        reply_to_id = r.reply_to_msg_id
        if r.reply_to_peer_id is not None:
            reply_to_peer = peer_id(r.reply_to_peer_id)
        top = r.reply_to_top_id
        if r.forum_topic:
            if top is None:
                topic_id = reply_to_id
                reply_to_id = None
            else:
                topic_id = top
        else:
            reply_top = top  # a comment answering a comment: the thread's root

    fwd = msg.fwd_from
    forward = _forward(fwd) if fwd is not None else None

    reactions_tl = msg.reactions
    reactions = _reactions(reactions_tl) if reactions_tl is not None else []

    replies_tl = msg.replies
    if replies_tl is not None:
        replies, replies_max = replies_tl.replies, replies_tl.max_id
    else:
        replies = replies_max = None

    if service:
        action = convert_action(msg.action, msg)
        text = ""
        entities: list[Entity] = []
        media = None
        if action is not None and action.type == "pin_message":
            reply_to_id = None  # the pinned message is the action's message_id, not a reply
        elif action is not None and action.type == "topic_created":
            topic_id = msg.id  # a topic's first message: its id is the topic's
    else:
        action = None
        text = msg.message or ""
        ents = msg.entities
        entities = convert_entities(ents) if ents else []
        m = msg.media
        media = convert_media(m) if m is not None else None

    return Message(
        chat_id, msg.id, date, text, entities, sender_id, edit_date, reply_to_id, reply_to_peer,
        topic_id, forward, media, action, reactions, msg.views, msg.forwards, replies, msg.grouped_id,
        msg.post_author, msg.via_bot_id, bool(msg.out), bool(msg.pinned), False, reply_top, replies_max,
    )


def convert_messages(messages: Iterable[Any], chat_id: int, self_id: int | None = None) -> list[Message]:
    """A batch (e.g. ``messages.GetHistory(...).messages``), ``MessageEmpty`` dropped."""
    out = []
    for m in messages:
        converted = convert_message(m, chat_id, self_id)
        if converted is not None:
            out.append(converted)
    return out


# ---------------------------------------------------------------------------------------------
# peers


def _username(entity: Any) -> str | None:
    name = getattr(entity, "username", None)
    if name:
        return name
    for u in getattr(entity, "usernames", None) or ():  # collectible / multiple usernames
        if getattr(u, "active", False):
            return u.username
    return None


def _peer_user(u: Any) -> Peer:
    kind = "self" if u.is_self else "bot" if u.bot else "user"
    first, last = u.first_name, u.last_name
    title = " ".join(p for p in (first, last) if p)
    deleted = bool(u.deleted)
    if not title and deleted:
        title = "Deleted Account"
    return Peer(u.id, kind, title, _username(u), first, last, False, deleted)


def _peer_user_empty(u: Any) -> Peer:
    return Peer(u.id, "user", "", deleted=True)


def _peer_chat(c: Any) -> Peer:
    return Peer(-c.id, "group", getattr(c, "title", "") or "",
                deleted=bool(getattr(c, "deactivated", False)))


def _peer_channel(c: Any) -> Peer:
    kind = "channel" if c.broadcast else "supergroup"
    forum = bool(getattr(c, "forum", False))
    return Peer(-CHANNEL_MARK - c.id, kind, c.title or "", _username(c), forum=forum)


def _peer_channel_forbidden(c: Any) -> Peer:
    kind = "channel" if c.broadcast else "supergroup"
    return Peer(-CHANNEL_MARK - c.id, kind, c.title or "")


_PEERS: dict[type, Callable[[Any], Peer]] = {
    tl.User: _peer_user,
    tl.UserEmpty: _peer_user_empty,
    tl.Chat: _peer_chat,
    tl.ChatForbidden: _peer_chat,
    tl.ChatEmpty: _peer_chat,
    tl.Channel: _peer_channel,
    tl.ChannelForbidden: _peer_channel_forbidden,
}
_peer_lookup = _build_dispatch(_PEERS)


def convert_peer(entity: Any) -> Peer:
    """A ``User``/``Chat``/``Channel`` (or their Forbidden/Empty forms) → :class:`Peer`.

    Users: ``self`` / ``bot`` / ``user``, title "First Last". Basic groups: ``group``.
    Channels: ``channel`` when broadcast, else ``supergroup`` (``forum`` flag kept).
    """
    make = _PEERS.get(type(entity)) or _peer_lookup(type(entity))
    if make is None:
        raise TypeError(f"not a Telegram user or chat: {type(entity).__name__}")
    return make(entity)


def convert_peers(entities: Iterable[Any]) -> list[Peer]:
    """Every user/chat of a response (``result.users + result.chats``); unknown objects skipped."""
    out = []
    for e in entities:
        make = _PEERS.get(type(e)) or _peer_lookup(type(e))
        if make is not None:
            out.append(make(e))
    return out
