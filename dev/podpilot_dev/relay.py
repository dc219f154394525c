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


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
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
