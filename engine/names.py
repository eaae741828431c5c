"""Index and alias names as OpenSearch accepts them, checked before any request or file name
is made from one (`--index ../../tmp/x` is refused here, not by the cluster)."""

from __future__ import annotations

# A versioned index is `<alias>-v<20 digits>`, and OpenSearch allows 255 bytes.
MAX_ALIAS_BYTES = 255 - len("-v") - 20
_FORBIDDEN = set('\\/*?"<>| ,#:')


class InvalidIndexNameError(ValueError):
    """`name` cannot name an index or alias; `reason` says which rule it breaks."""

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason
        super().__init__(f"{name!r} is not a valid index name: {reason}")


def check_index_name(name: str) -> str:
    """`name` if OpenSearch (and the versioned indices made from it) would accept it."""
    if not name:
        raise InvalidIndexNameError(name, "it is empty")
    if name in (".", ".."):
        raise InvalidIndexNameError(name, "it is . or ..")
    if name != name.lower():
        raise InvalidIndexNameError(name, "it must be lowercase")
    if name[0] in "-_+.":
        raise InvalidIndexNameError(name, "it must not start with -, _, + or .")
    bad = sorted({char for char in name if char in _FORBIDDEN or ord(char) < 32})
    if bad:
        shown = " ".join(repr(char) for char in bad)
        raise InvalidIndexNameError(name, f"it must not contain {shown}")
    if len(name.encode()) > MAX_ALIAS_BYTES:
        raise InvalidIndexNameError(name, f"it is longer than {MAX_ALIAS_BYTES} bytes")
    return name
