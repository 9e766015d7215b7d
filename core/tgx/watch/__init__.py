"""``tgx watch``: an export that stays connected and keeps its archive and files current.

:mod:`tgx.watch.loop` — after the export's catch-up, fetch and render, the watcher listens to
Telegram's pushed updates only as a *signal* that a chat changed, and reads what changed with the
same difference calls a rerun uses (:mod:`tgx.sync.difference`), from the ``pts`` the archive
keeps. So a pushed update lost to a dropped connection, a restart, or Telethon's own gap handling
(which drops the edits and deletions inside the differences it fetches) costs nothing: the next
catch-up reads them from the archive's position — no change missed, none applied twice.
"""
