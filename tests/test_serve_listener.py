"""The listener ``hcp serve`` and ``hcp serve-ingest`` answer on sends each answer at once."""

from __future__ import annotations

import socket

from hcp.serve import bind_listener


def test_connections_to_the_listener_send_without_waiting_for_acknowledgements():
    """uvicorn writes an answer's headers and body apart; with Nagle's algorithm on, the body waited ~40 ms
    for the client's delayed acknowledgement of the headers, on every push and every forwarded query.
    The listener is a TCP socket by protocol (so asyncio sets TCP_NODELAY on each connection) and carries
    the option itself, which the connections it accepts inherit."""
    listener = bind_listener("127.0.0.1", 0)
    try:
        assert listener.proto == socket.IPPROTO_TCP
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        with socket.create_connection(listener.getsockname()) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                client.sendall(b"ping")
                assert accepted.recv(4) == b"ping"
    finally:
        listener.close()
