"""Fetching history into the archive: id ranges fetched in parallel, raw history pages decoded
(in worker processes for big chats), TL objects normalized into :mod:`tgx.model`, and the
re-sync of recent edits and deletions."""
