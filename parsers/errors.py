"""Errors raised while reading what units send."""

from store.model import BaosongError


class ParseError(BaosongError):
    """Something a unit sent could not be read; the message says what and what to do."""


class MalformedMessage(ParseError):
    """The bytes are not an e-mail message at all (no readable header block)."""
