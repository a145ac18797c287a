"""aieng.foundations.mail: a real SMTP server on loopback, delivery, refusals, and nothing left running."""

from __future__ import annotations

import socket
import threading
from email.message import EmailMessage

import pytest

from aieng.foundations.mail import MailError, MailServer, parse_address, send_message


def _message(to: str = "boss@example.com") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "agent@example.com", to, "Q1 report"
    msg.set_content("See the attachment.")
    msg.add_attachment(b"\x89PNG\r\n\x1a\nfake", maintype="image", subtype="png", filename="chart.png")
    return msg


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def test_delivers_and_keeps_the_parsed_message_with_its_attachment():
    with MailServer() as server:
        send_message(_message(), server.address)
        assert len(server.messages) == 1
        got = server.messages[0]
        assert got["Subject"] == "Q1 report" and got["To"] == "boss@example.com"
        (att,) = list(got.iter_attachments())
        assert att.get_filename() == "chart.png" and att.get_content() == b"\x89PNG\r\n\x1a\nfake"
        assert server.envelopes == [("agent@example.com", ["boss@example.com"])]


def test_stop_leaves_no_thread_and_frees_the_port():
    before = {t.ident for t in threading.enumerate()}
    server = MailServer().start()
    host, port = parse_address(server.address)
    assert not _port_is_free(host, port), "the server should be listening"
    server.stop()
    server.stop()  # twice is fine
    assert {t.ident for t in threading.enumerate()} <= before, "a server thread is left running"
    assert _port_is_free(host, port), "the port is still taken after stop()"
    with pytest.raises(MailError, match="not running"):
        server.address


def test_the_context_manager_stops_even_when_the_body_raises():
    before = {t.ident for t in threading.enumerate()}
    with pytest.raises(ZeroDivisionError), MailServer() as server:
        1 / 0
    assert not server.running and {t.ident for t in threading.enumerate()} <= before


def test_a_refused_recipient_is_a_clear_error_and_nothing_is_kept():
    with MailServer(accept={"example.com"}) as server:
        with pytest.raises(MailError, match=r"refused the recipient.*outsider@elsewhere.org.*550"):
            send_message(_message("outsider@elsewhere.org"), server.address)
        assert server.messages == []


def test_an_unreachable_server_is_a_clear_error():
    with MailServer() as server:
        address = server.address
    with pytest.raises(MailError, match="could not deliver"):
        send_message(_message(), address, timeout=2)


@pytest.mark.parametrize("bad", ["localhost", "localhost:port", ":25", "host:70000"])
def test_a_malformed_server_address_is_rejected(bad):
    with pytest.raises(ValueError, match="host:port"):
        parse_address(bad)


def test_a_message_without_recipient_is_rejected():
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    with MailServer() as server, pytest.raises(ValueError, match="From and To"):
        send_message(msg, server.address)
