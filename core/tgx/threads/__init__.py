"""Threads: a channel's comments (its linked discussion group) and a forum's topics, fetched
with the history machinery of :mod:`tgx.fetch` and linked in the archive (:mod:`tgx.archive.threads`)."""
