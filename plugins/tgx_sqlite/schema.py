"""The schema of ``messages.sqlite`` (documented in docs/formats.md; ``PRAGMA user_version``)."""

from __future__ import annotations

SCHEMA_VERSION = 3  # 2: the comments table; 3: the versions table, deleted_at on messages and comments

TABLES = """
CREATE TABLE chats (
    id            INTEGER PRIMARY KEY,          -- marked id (channels -100...)
    kind          TEXT NOT NULL,                -- user | bot | self | channel | supergroup | group
    title         TEXT NOT NULL,
    username      TEXT,
    forum         INTEGER NOT NULL,
    message_count INTEGER NOT NULL,
    json          TEXT NOT NULL                 -- Peer.to_dict()
);
CREATE TABLE users (                            -- every peer the messages refer to
    id         INTEGER PRIMARY KEY,
    kind       TEXT,
    title      TEXT,
    username   TEXT,
    first_name TEXT,
    last_name  TEXT,
    deleted    INTEGER,
    json       TEXT                             -- Peer.to_dict(); NULL when the archive lacks it
);
CREATE TABLE messages (
    id                   INTEGER PRIMARY KEY,   -- Telegram's message id in this chat
    chat_id              INTEGER NOT NULL,
    date                 INTEGER NOT NULL,      -- Unix seconds, UTC
    date_iso             TEXT NOT NULL,         -- ISO 8601, as in messages.jsonl
    edit_date            INTEGER,
    edit_date_iso        TEXT,
    sender_id            INTEGER,               -- NULL for anonymous channel posts
    text                 TEXT NOT NULL,
    reply_to_id          INTEGER,
    reply_to_peer_id     INTEGER,
    forward_from_id      INTEGER,
    forward_from_name    TEXT,
    forward_date         INTEGER,
    forward_channel_post INTEGER,
    forward_post_author  TEXT,
    media_kind           TEXT,
    media_path           TEXT,                  -- relative to the chat folder, when downloaded
    action               TEXT,                  -- service messages: the action's type
    action_data          TEXT,                  -- its fields as JSON
    views                INTEGER,
    forwards             INTEGER,
    replies              INTEGER,
    grouped_id           INTEGER,               -- album
    topic_id             INTEGER,               -- forum topic
    post_author          TEXT,
    via_bot_id           INTEGER,
    out                  INTEGER NOT NULL,
    pinned               INTEGER NOT NULL,
    deleted              INTEGER NOT NULL,      -- gone from Telegram, kept in the archive
    deleted_at           INTEGER,               -- when tgx learned of it (exact where Telegram says)
    deleted_at_iso       TEXT,
    json                 TEXT NOT NULL          -- Message.to_dict(): the jsonl line
);
CREATE TABLE media (
    message_id     INTEGER PRIMARY KEY REFERENCES messages(id),
    kind           TEXT NOT NULL,
    media_id       INTEGER,                     -- Telegram's photo/document id
    file_name      TEXT,
    mime_type      TEXT,
    size           INTEGER,
    width          INTEGER,
    height         INTEGER,
    duration       REAL,
    performer      TEXT,
    title          TEXT,
    emoji          TEXT,
    spoiler        INTEGER NOT NULL,
    path           TEXT,
    thumbnail_path TEXT,
    extra          TEXT                         -- JSON: poll, geo, venue, contact, webpage, dice ...
);
CREATE TABLE reactions (
    message_id  INTEGER NOT NULL REFERENCES messages(id),
    position    INTEGER NOT NULL,
    type        TEXT NOT NULL,                  -- emoji | custom_emoji | paid
    emoji       TEXT,
    document_id INTEGER,
    count       INTEGER NOT NULL,
    chosen      INTEGER NOT NULL,
    PRIMARY KEY (message_id, position)
) WITHOUT ROWID;
CREATE TABLE entities (
    message_id   INTEGER NOT NULL REFERENCES messages(id),
    position     INTEGER NOT NULL,
    type         TEXT NOT NULL,                 -- bold, text_link, mention, hashtag, pre, ...
    utf16_offset INTEGER NOT NULL,              -- Telegram's units
    utf16_length INTEGER NOT NULL,
    text         TEXT NOT NULL,                 -- the part of the message it covers
    url          TEXT,
    user_id      INTEGER,
    language     TEXT,
    document_id  INTEGER,
    PRIMARY KEY (message_id, position)
) WITHOUT ROWID;
CREATE TABLE comments (                         -- a channel's comments (tgx export --comments)
    id                   INTEGER PRIMARY KEY,   -- the comment's id in the discussion group
    chat_id              INTEGER NOT NULL,      -- the discussion group
    date                 INTEGER NOT NULL,
    date_iso             TEXT NOT NULL,
    edit_date            INTEGER,
    edit_date_iso        TEXT,
    sender_id            INTEGER,
    text                 TEXT NOT NULL,
    reply_to_id          INTEGER,               -- the group's copy of the post, or another comment
    reply_to_peer_id     INTEGER,
    forward_from_id      INTEGER,
    forward_from_name    TEXT,
    forward_date         INTEGER,
    forward_channel_post INTEGER,
    forward_post_author  TEXT,
    media_kind           TEXT,
    media_path           TEXT,                  -- relative to the channel's folder, when downloaded
    action               TEXT,
    action_data          TEXT,
    views                INTEGER,
    forwards             INTEGER,
    replies              INTEGER,
    grouped_id           INTEGER,
    topic_id             INTEGER,
    post_author          TEXT,
    via_bot_id           INTEGER,
    out                  INTEGER NOT NULL,
    pinned               INTEGER NOT NULL,
    deleted              INTEGER NOT NULL,
    deleted_at           INTEGER,
    deleted_at_iso       TEXT,
    json                 TEXT NOT NULL,         -- Message.to_dict()
    post_id              INTEGER NOT NULL       -- the channel post (messages.id) it comments on
);
CREATE TABLE versions (                         -- earlier versions of edited messages and comments
    chat_id       INTEGER NOT NULL,             -- the message's chat_id (a comment's: the discussion group)
    message_id    INTEGER NOT NULL,             -- messages.id (or comments.id)
    seq           INTEGER NOT NULL,             -- 0 = the oldest version tgx saw
    edit_date     INTEGER,                      -- when this version was made; NULL: the original
    edit_date_iso TEXT,
    text          TEXT NOT NULL,
    entities      TEXT NOT NULL,                -- JSON, as in messages.jsonl
    media         TEXT,                         -- JSON, as in messages.jsonl; NULL: none
    PRIMARY KEY (chat_id, message_id, seq)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
"""

# Built after the bulk load: one pass over the table is cheaper than a trigger per row.
INDEXES = """
CREATE INDEX messages_date ON messages(date);
CREATE INDEX messages_sender ON messages(sender_id);
CREATE INDEX messages_reply ON messages(reply_to_id);
CREATE INDEX entities_type ON entities(type);
CREATE INDEX comments_post ON comments(post_id, id);
"""

# Keep the full-text index in sync with later changes made by users of the database.
TRIGGERS = """
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
"""

INSERT_MESSAGE = f"INSERT INTO messages VALUES ({', '.join('?' * 32)})"
INSERT_COMMENT = f"INSERT INTO comments VALUES ({', '.join('?' * 33)})"
INSERT_VERSION = "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_MEDIA = f"INSERT INTO media VALUES ({', '.join('?' * 16)})"
INSERT_REACTION = "INSERT INTO reactions VALUES (?, ?, ?, ?, ?, ?, ?)"
INSERT_ENTITY = "INSERT INTO entities VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_USER = "INSERT OR REPLACE INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

# Every peer id the messages mention, for the users table.
REFERENCED_PEERS = """
SELECT sender_id FROM messages WHERE sender_id IS NOT NULL
UNION SELECT forward_from_id FROM messages WHERE forward_from_id IS NOT NULL
UNION SELECT via_bot_id FROM messages WHERE via_bot_id IS NOT NULL
UNION SELECT user_id FROM entities WHERE user_id IS NOT NULL
UNION SELECT j.value FROM messages, json_each(messages.action_data, '$.members') AS j
      WHERE messages.action_data IS NOT NULL AND j.type = 'integer'
UNION SELECT sender_id FROM comments WHERE sender_id IS NOT NULL
UNION SELECT forward_from_id FROM comments WHERE forward_from_id IS NOT NULL
UNION SELECT via_bot_id FROM comments WHERE via_bot_id IS NOT NULL
ORDER BY 1
"""

