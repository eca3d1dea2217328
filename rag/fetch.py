"""Fetch a news page by URL for `rag add URL` and the browser's URL box: http(s) only, size-capped,
time-limited, and never an address inside this machine's network unless the settings allow it.

The chat server may listen beyond localhost, so a reader could otherwise make it fetch an internal
service (http://127.0.0.1:8000/, a cloud metadata address): every hop of a redirect is resolved and
its addresses checked before anything is requested.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlparse

from .errors import CorpusError

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_MAX_REDIRECTS = 5


@dataclass(frozen=True)
class FetchedPage:
    url: str  # after redirects
    html: str


def _check_address(url: str, allow_private: bool) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise CorpusError(f"'{url}' is not a web page address: give an http:// or https:// URL.")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as e:
        raise CorpusError(f"Cannot resolve the host of {url} ({e}). Check the address.") from e
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise CorpusError(
                f"{url} points inside this machine's network ({address}); such pages are not fetched. "
                "Save the page and upload the file, or set RAG_ALLOW_PRIVATE_URLS=true on a trusted machine."
            )


def fetch_page(url: str, max_bytes: int, timeout: float = 15.0, allow_private: bool = False) -> FetchedPage:
    """The page's HTML. Raises CorpusError naming the problem and the fix."""
    import httpx

    url = url.strip()
    with httpx.Client(timeout=timeout, follow_redirects=False, headers={"User-Agent": "newsrag/1"}) as client:
        for _ in range(_MAX_REDIRECTS + 1):
            _check_address(url, allow_private)
            try:
                with client.stream("GET", url) as response:
                    if response.is_redirect and response.headers.get("location"):
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code >= 400:
                        raise CorpusError(f"{url} answered HTTP {response.status_code}. Check the address.")
                    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
                    if kind not in _HTML_TYPES:
                        raise CorpusError(
                            f"{url} is not a web page ({kind or 'no content type'}). "
                            "Give the address of an article page, or upload the file."
                        )
                    body = bytearray()
                    for piece in response.iter_bytes():
                        body += piece
                        if len(body) > max_bytes:
                            raise CorpusError(
                                f"{url} is larger than {max_bytes} bytes (RAG_UPLOAD_MAX_BYTES). "
                                "Raise the limit or save the article's text and upload it."
                            )
                    return FetchedPage(url=str(response.url), html=body.decode(response.encoding or "utf-8", "replace"))
            except httpx.TimeoutException as e:
                raise CorpusError(f"{url} did not answer within {timeout:.0f} s. Try again later.") from e
            except httpx.HTTPError as e:
                raise CorpusError(f"Cannot fetch {url} ({e.__class__.__name__}: {e}). Check the address.") from e
    raise CorpusError(f"{url} redirects more than {_MAX_REDIRECTS} times. Give the article's final address.")
