"""Talking to Telegram: the request runner (flood waits, reconnects), pacing, takeout sessions,
peer resolution and the dialog list. The only stage that touches Telethon's private attributes,
through :mod:`tgx.telegram.adapter`."""
