"""A TCP relay from the node bridge's gateway address to the apiserver on 127.0.0.1.

The apiserver binds one address and everyone else uses 127.0.0.1; real nodes live in
network namespaces that cannot reach the host's loopback, so this relay listens on the
gateway address the dev cluster gave the bridge and passes bytes through (TLS stays end to
end: the apiserver's certificate carries the gateway address).

    python -m podpilot_dev.relay --listen 172.30.5.1:6443 --target 127.0.0.1:41234
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any

CHUNK = 65536
CONNECT_TIMEOUT = 5.0  # seconds to reach the target


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    gate: asyncio.Event | None = None,
    counter: list[int] | None = None,
) -> None:
    """Copy ``reader`` to ``writer`` until either ends. With a ``gate``, nothing is read or
    written while it is clear (a chunk read before it closed waits in memory, at most CHUNK
    bytes); ``counter[0]`` adds up the bytes forwarded."""
    try:
        while True:
            if gate is not None:
                await gate.wait()
            data = await reader.read(CHUNK)
            if not data:
                break
            if gate is not None:
                await gate.wait()
            writer.write(data)
            await writer.drain()
            if counter is not None:
                counter[0] += len(data)
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


def _handler(target_host: str, target_port: int) -> object:
    async def handle(
        client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                target_host, target_port
            )
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            _pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer)
        )

    return handle


async def serve(listen_host: str, listen_port: int, target_host: str, target_port: int) -> None:
    if not target_host.startswith("127."):
        raise SystemExit("the relay only forwards to 127.0.0.0/8")
    server = await asyncio.start_server(
        _handler(target_host, target_port),  # type: ignore[arg-type]
        listen_host,
        listen_port,
    )
    async with server:
        await server.serve_forever()


class FreezableRelay:
    """A TCP relay from a free port on 127.0.0.1 to a 127.0.0.1 target, run in a thread of its
    own, that a test can freeze and thaw (the fault tests put one in front of the apiserver
    for one operator replica).

    Frozen, it is a black hole: connections stay open (new ones are accepted too) but no byte
    passes either way, as when packets are dropped. Thawed, it forwards again, what waited
    included, as TCP delivers once a partition heals. It holds at most ``max_connections``
    (more are closed at once) and at most one chunk per direction of each in memory; ``stop``
    (or leaving the ``with`` block) closes everything and ends the thread.
    """

    def __init__(self, target_port: int, max_connections: int = 256) -> None:
        self.target_port = target_port
        self.max_connections = max_connections
        self.port = 0
        self._forwarded = [0]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate: asyncio.Event | None = None
        self._stopping: asyncio.Event | None = None
        self._connections: set[asyncio.Task[object]] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="freezable-relay", daemon=True)

    @property
    def forwarded_bytes(self) -> int:
        """Bytes passed through so far, both directions."""
        return self._forwarded[0]

    @property
    def connections(self) -> int:
        return len(self._connections)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> FreezableRelay:
        self._thread.start()
        if not self._ready.wait(timeout) or not self.port:
            raise RuntimeError("the relay did not start listening")
        return self

    def freeze(self) -> None:
        self._in_loop(self._set_gate(False))

    def thaw(self) -> None:
        self._in_loop(self._set_gate(True))

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._in_loop(self._stop(), timeout)
        self._thread.join(timeout)

    def __enter__(self) -> FreezableRelay:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _in_loop(self, coroutine: Coroutine[Any, Any, None], timeout: float = 10.0) -> None:
        assert self._loop is not None, "the relay is not running"
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _set_gate(self, open_: bool) -> None:
        assert self._gate is not None
        if open_:
            self._gate.set()
        else:
            self._gate.clear()

    async def _stop(self) -> None:
        assert self._stopping is not None
        self._stopping.set()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._gate = asyncio.Event()
        self._gate.set()
        self._stopping = asyncio.Event()
        try:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = int(server.sockets[0].getsockname()[1])
        finally:
            self._ready.set()
        async with server:
            await self._stopping.wait()
            server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._connections) >= self.max_connections:
            writer.close()
            return
        self._connections.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            assert self._gate is not None
            await self._gate.wait()  # frozen: accepted, but not even connected upstream
            upstream_reader, upstream = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.target_port), CONNECT_TIMEOUT
            )
            upstream_writer = upstream
            await asyncio.gather(
                _pipe(reader, upstream, self._gate, self._forwarded),
                _pipe(upstream_reader, writer, self._gate, self._forwarded),
            )
        except (OSError, TimeoutError):
            pass
        finally:
            for stream in (writer, upstream_writer):
                if stream is not None:
                    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                        stream.close()
            self._connections.discard(task)


def _address(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", type=_address, required=True)
    parser.add_argument("--target", type=_address, required=True)
    args = parser.parse_args()
    asyncio.run(serve(*args.listen, *args.target))


if __name__ == "__main__":
    main()
