"""Image URLs: capped while streaming, retried on transient failures, and (for strangers'
URLs) through the network guard of `vectors.netguard`."""

from __future__ import annotations

import time

import requests

from visearch.vectors.image_limits import CHUNK, BlockedURLError, ImageError, ImageLoaderConfig

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class _Retryable(Exception):
    """One failed HTTP attempt that another attempt might fix."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def read_url(ref: str, config: ImageLoaderConfig, session: requests.Session | None) -> bytes:
    from visearch.vectors.netguard import GuardedSession

    owned = session is None
    if config.public_urls_only and session is not None and not isinstance(session, GuardedSession):
        raise ValueError("public_urls_only needs no session, or a netguard.GuardedSession")
    if session is not None:
        http = session
    elif config.public_urls_only:
        http = GuardedSession(config.allowed_hosts)
    else:
        http = requests.Session()
    attempts = config.retries + 1
    last = ""
    try:
        for attempt in range(attempts):
            if attempt:
                time.sleep(config.backoff_s * 2 ** (attempt - 1))
            try:
                return _fetch_once(ref, config, http)
            except _Retryable as e:
                last = e.reason
        suffix = f" ({attempts} attempts)" if attempts > 1 else ""
        raise ImageError(ref, last + suffix)
    finally:
        if owned:
            http.close()


def _fetch_once(ref: str, config: ImageLoaderConfig, http: requests.Session) -> bytes:
    from visearch.vectors.netguard import BlockedAddress

    timed_out = f"timed out after {config.timeout_s:g}s"
    deadline = time.monotonic() + config.timeout_s
    try:
        with http.get(
            ref,
            stream=True,
            timeout=(config.timeout_s, config.timeout_s),
            headers={"User-Agent": config.user_agent},
        ) as resp:
            if resp.status_code >= 400:
                status = f"HTTP {resp.status_code} {resp.reason or ''}".rstrip()
                if resp.status_code in _RETRY_STATUS:
                    raise _Retryable(status)
                raise ImageError(ref, status)
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > config.max_bytes:
                raise ImageError(ref, f"larger than {config.max_bytes} bytes ({declared} bytes)")
            buf = bytearray()
            # iter_content undoes gzip, so the cap also bounds compressed responses.
            for chunk in resp.iter_content(CHUNK):
                buf += chunk
                if len(buf) > config.max_bytes:
                    raise ImageError(ref, f"larger than {config.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise _Retryable(timed_out)
    except BlockedAddress as e:
        raise BlockedURLError(ref, str(e)) from None
    except requests.exceptions.SSLError as e:
        raise ImageError(ref, f"TLS error: {_short_reason(e)}") from None
    except requests.Timeout:
        raise _Retryable(timed_out) from None
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
        # requests reports a read timeout while streaming the body as a ConnectionError.
        if _caused_by_timeout(e):
            raise _Retryable(timed_out) from None
        raise _Retryable(f"unreachable: {_short_reason(e)}") from None
    except requests.RequestException as e:
        raise ImageError(ref, f"request failed: {_short_reason(e)}") from None
    if not buf:
        raise ImageError(ref, "empty response (0 bytes)")
    return bytes(buf)


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps, outermost first, through urllib3's layers."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
        elif current.args and isinstance(current.args[0], BaseException):
            current = current.args[0]
        else:
            current = current.__cause__ or current.__context__
    return chain


def _caused_by_timeout(exc: BaseException) -> bool:
    # urllib3's ReadTimeoutError is not a builtin TimeoutError, hence the name check.
    return any(
        isinstance(e, TimeoutError) or "TimeoutError" in type(e).__name__ for e in _causes(exc)
    )


def _short_reason(exc: BaseException) -> str:
    """'connection refused' instead of three nested urllib3 reprs."""
    chain = _causes(exc)
    for e in reversed(chain):
        if isinstance(e, OSError) and e.strerror:
            return e.strerror.lower()
    text = str(chain[-1]) or type(chain[-1]).__name__
    return text if len(text) <= 200 else text[:197] + "..."
