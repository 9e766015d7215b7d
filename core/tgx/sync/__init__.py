"""Keeping an archive up to date from Telegram's update streams, without a listener.

Telegram numbers every change of a channel (a new message, an edit, a deletion) with the
channel's ``pts``, and every change of the account's private chats and basic groups with the
account's ``pts``. An archive that remembers the ``pts`` it has caught up to can ask
``updates.GetChannelDifference`` / ``updates.GetDifference`` for exactly what changed since —
new messages, edits (kept as versions by the archive), deletions (flagged, with when tgx learned
them) — at the cost of a request per 100 changes instead of a re-scan of the history.

* :mod:`tgx.sync.state` — where the ``pts`` of each chat and the account's state are kept.
* :mod:`tgx.sync.changes` — applying new, edited and deleted messages to the archive (one place,
  shared by the difference calls and by ``tgx watch``).
* :mod:`tgx.sync.difference` — the catch-up of one channel, and of the account's other chats,
  with the fallback when Telegram no longer keeps that far back.
"""
