"""The SQLite archive in ``OUT/.tgx/``: messages upserted with their checkpoint in one
transaction (:mod:`tgx.archive.store`) and the one serialization of a message row
(:mod:`tgx.archive.records`)."""
