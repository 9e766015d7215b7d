"""Rendering: every selected format writer fed from the archive in one streaming pass, files
moved into place only when complete."""
