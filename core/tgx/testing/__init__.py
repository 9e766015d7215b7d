"""The simulated Telegram, for tgx's tests and for plugin authors' (``pytest -p tgx.testing``)."""
