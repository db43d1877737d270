"""Download answers: the file name in Content-Disposition, encoded so no name can split or bend the header."""

from __future__ import annotations

import re
from urllib.parse import quote

# What an ASCII fallback may keep: printable ASCII except the quote and backslash (RFC 6266 quoted-string).
_UNSAFE_ASCII = re.compile(r'[^\x20-\x7e]|["\\]')


def content_disposition(filename: str) -> str:
    """`attachment; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266 and RFC 8187).

    The fallback drops quotes, backslashes, CR, LF and every non-ASCII character; the UTF-8 form
    keeps the name whole, percent-encoded, so neither can end the header or add a parameter.
    """
    name = filename.replace("/", "_").replace("\\", "_")
    fallback = _UNSAFE_ASCII.sub("", name).strip() or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def attachment_headers(filename: str) -> dict[str, str]:
    """The headers of a download named `filename`."""
    return {"Content-Disposition": content_disposition(filename)}
