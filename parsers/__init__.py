"""Reading what units send: mail decoding, and decisions about what a message is."""

from parsers.errors import MalformedMessage, ParseError
from parsers.message import (
    Attachment,
    Envelope,
    Message,
    attachment_names,
    parse_envelope,
    parse_message,
)

__all__ = [
    "Attachment",
    "Envelope",
    "MalformedMessage",
    "Message",
    "ParseError",
    "attachment_names",
    "parse_envelope",
    "parse_message",
]
