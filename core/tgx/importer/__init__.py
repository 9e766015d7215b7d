"""``tgx import``: a Telegram Desktop export (JSON or HTML) becomes a tgx archive.

Readers (:mod:`tgx.importer.tdjson`, :mod:`tgx.importer.tdhtml`) turn an export into the
stream described in :mod:`tgx.importer.source`; the import stage
(:mod:`tgx.importer.stage`) writes that stream into the archive, copies the files into tgx's
media layout and renders the formats. Readers know Telegram Desktop's shapes and nothing of
the archive; the stage knows the archive and nothing of Telegram Desktop's shapes.
"""
