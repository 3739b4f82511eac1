"""Tests for dingwire.content: normaliser, linter, escaping and splitting."""
