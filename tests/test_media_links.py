"""The plugin API's tools for a contact's pictures: which links belong to a provider, and fetching
one with a size cap and errors that say whether a later try may succeed."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.fake_plivo import FakePlivo
from webapp.plugin_api import MediaUnavailable, fetch_file, url_under

BASE = "https://media.plivo.com"


@pytest.mark.parametrize(
    ("url", "under"),
    [
        ("https://media.plivo.com/Account/MA1/Media/1", True),
        ("https://MEDIA.plivo.com/Account/MA1/Media/1", True),
        ("http://media.plivo.com/Account/MA1/Media/1", False),  # another scheme
        ("https://media.plivo.com.example.org/Account/1", False),  # another host
        ("https://media.plivo.com:8443/Account/1", False),  # another port
        ("https://user@media.plivo.com/Account/1", False),  # credentials in the link
        ("https://media.plivo.com", False),  # the base itself is no file
        ("https://media.plivo.com/Account/../../etc/passwd", False),
        ("https://media.plivo.com/./Account/1", False),
        ("https://media.plivo.com/Account/%2e%2e/%2E%2E/etc/passwd", False),  # encoded dots
        ("https://media.plivo.com/Account/%2e/1", False),
        ("https://media.plivo.com/Account%2f..%2fother/1", False),  # an encoded slash
        ("https://media.plivo.com/Account\\..\\other/1", False),  # backslashes
    ],
)
def test_url_under_takes_only_links_below_the_base(url, under):
    assert url_under(url, BASE) is under


def test_url_under_a_path_needs_the_whole_segment():
    base = "https://api.plivo.com/v1/Account/MA1"
    assert url_under("https://api.plivo.com/v1/Account/MA1/Message/2/Media/3", base)
    assert not url_under("https://api.plivo.com/v1/Account/MA12/Message/2/Media/3", base)


@pytest.fixture
def server():
    with FakePlivo() as fake:
        yield fake


def test_fetch_file_returns_the_file_with_the_credentials_asked(server):
    url = server.serve_file("/a.png", b"picture", credentials="id:secret")
    assert fetch_file(url, 100, 5, auth=("id", "secret")) == b"picture"
    with pytest.raises(MediaUnavailable, match="HTTP 401") as refused:
        fetch_file(url, 100, 5)
    assert not refused.value.transient


@pytest.mark.parametrize(("status", "transient"), [(404, False), (403, False), (429, True), (503, True)])
def test_fetch_file_says_whether_an_error_may_pass(server, status, transient):
    url = server.serve_file("/a.png", b"no", status=status)
    with pytest.raises(MediaUnavailable, match=f"HTTP {status}") as refused:
        fetch_file(url, 100, 5, provider="Plivo")
    assert refused.value.transient is transient
    assert str(refused.value).startswith("Plivo answered")


def test_fetch_file_refuses_a_file_over_the_limit(server):
    url = server.serve_file("/big.png", b"x" * 101)
    with pytest.raises(MediaUnavailable, match="larger than 100 bytes") as refused:
        fetch_file(url, 100, 5)
    assert not refused.value.transient
    assert fetch_file(url, 101, 5) == b"x" * 101


def test_fetch_file_from_nowhere_is_a_passing_failure():
    with FakePlivo() as gone:
        url = gone.url + "/a.png"
    with pytest.raises(MediaUnavailable, match="network error") as refused:
        fetch_file(url, 100, 5)
    assert refused.value.transient


def test_fetch_file_follows_a_redirect_on_the_same_host_with_the_credentials(server):
    server.serve_file("/stored.png", b"picture", credentials="id:secret")
    url = server.serve_file("/a.png", b"", status=302, location="/stored.png", credentials="id:secret")
    assert fetch_file(url, 100, 5, auth=("id", "secret")) == b"picture"
    assert [path for path, _ in server.downloads] == ["/a.png", "/stored.png"]


def test_fetch_file_refuses_a_redirect_to_plain_http_elsewhere_and_sends_it_nothing(server):
    with FakePlivo() as elsewhere:
        elsewhere.serve_file("/stolen.png", b"picture")
        other_host = elsewhere.url.replace("127.0.0.1", "localhost")
        url = server.serve_file("/a.png", b"", status=302, location=f"{other_host}/stolen.png")
        with pytest.raises(MediaUnavailable, match="not https"):
            fetch_file(url, 100, 5, auth=("id", "secret"))
        assert elsewhere.downloads == []


def test_fetch_file_stops_after_two_redirects(server):
    server.serve_file("/c.png", b"", status=302, location="/d.png")
    server.serve_file("/b.png", b"", status=302, location="/c.png")
    url = server.serve_file("/a.png", b"", status=302, location="/b.png")
    with pytest.raises(MediaUnavailable, match="more than 2 times"):
        fetch_file(url, 100, 5)


def test_fetch_file_abandons_a_download_that_trickles_past_three_timeouts(server):
    """Each piece comes within the timeout, but the whole would take over three of them."""
    # Ten pieces 0.4 s apart: 3.6 s in all, each gap well within a 1 s timeout even on a busy
    # machine, the whole past 3 s.
    url = server.serve_file("/slow.png", b"x" * 90_000, pause=0.4)
    with pytest.raises(MediaUnavailable, match="took over 3 s") as refused:
        fetch_file(url, 100_000, 1)
    assert refused.value.transient
    assert fetch_file(url, 100_000, 10) == b"x" * 90_000


@pytest.mark.parametrize("declared", [b"\xb2", b"1\xb2", b"-1", b"lots"])
def test_fetch_file_reads_a_file_whose_length_header_is_no_number(declared):
    """A Content-Length that is no count of bytes ("²" is a digit to str.isdigit(), not to int())
    says nothing of the size: the file is read, still within its cap."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer_once() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: "
                               + declared + b"\r\nConnection: close\r\n\r\npicture")

    with listener:
        threading.Thread(target=answer_once, daemon=True).start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/a.png"
        assert fetch_file(url, 100, 5) == b"picture"
