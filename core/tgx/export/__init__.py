"""``tgx export``'s conductor: one run, stage after stage, over a typed per-run context."""
