"""A TCP relay that behaves like a slower network between a client and a server on 127.0.0.1.

The bureau's baosong reaches imap.126.com over the Internet, not over loopback. Each direction
of the relay delivers at most `rate` bits per second, and every byte arrives `rtt / 2` after
it was sent (a token bucket and a delay line, both in user space: this machine's kernel has no
netem). TLS passes through untouched, so both sides still talk to the real Dovecot.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import TracebackType
from typing import Self

CHUNK = 16 * 1024


class Link:
    def __init__(self, host: str, port: int, mbit_per_s: float, rtt_ms: float) -> None:
        self.target = (host, port)
        self.bytes_per_s = mbit_per_s * 1e6 / 8
        self.one_way = rtt_ms / 2000
        self.name = f"{mbit_per_s:g} Mbit/s, RTT {rtt_ms:g} ms"
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._relay, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(
            self._direction(client_reader, server_writer),
            self._direction(server_reader, client_writer),
            return_exceptions=True,
        )

    async def _direction(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Bytes read now leave when the bucket allows, and arrive one way's delay later."""
        line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        delivering = asyncio.create_task(self._deliver(line, writer))
        free_at = 0.0  # when the link has sent everything queued so far
        try:
            while chunk := await reader.read(CHUNK):
                free_at = max(time.monotonic(), free_at) + len(chunk) / self.bytes_per_s
                line.put_nowait((free_at + self.one_way, chunk))
        finally:
            line.put_nowait((0.0, b""))
            await delivering

    async def _deliver(self, line: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter) -> None:
        while True:
            due, chunk = await line.get()
            if not chunk:
                writer.close()
                return
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(chunk)
            await writer.drain()
