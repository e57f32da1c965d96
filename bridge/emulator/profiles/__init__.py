"""Bundled org profiles (JSON data files)."""
