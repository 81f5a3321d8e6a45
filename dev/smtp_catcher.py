"""A small local SMTP server that keeps every message it receives as an ``.eml`` file, so that the embedded default
shows the portal's e-mail (the budget warnings) without a mail server. It speaks enough SMTP for :mod:`smtplib`
(EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), listens on 127.0.0.1 only and never relays anything.

``python -m gereedschapskist.dev.smtp_catcher --port 18025 --folder .state/mail`` (``make up`` starts it);
:class:`SmtpCatcher` runs it in a thread (the budget watcher's test).
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024


class _Session:
    def __init__(self, folder: Path, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.folder, self.reader, self.writer = folder, reader, writer
        self.sender: str | None = None
        self.recipients: list[str] = []

    async def reply(self, line: str) -> None:
        self.writer.write((line + "\r\n").encode())
        await self.writer.drain()

    async def run(self) -> None:
        await self.reply("220 gereedschapskist smtp catcher")
        while line := await self.reader.readline():
            command, _, argument = line.decode("utf-8", "replace").strip().partition(" ")
            verb = command.upper()
            if verb in ("EHLO", "HELO"):
                await self.reply("250 gereedschapskist")
            elif verb == "MAIL":
                self.sender, self.recipients = argument.partition(":")[2].strip(" <>"), []
                await self.reply("250 OK")
            elif verb == "RCPT":
                self.recipients.append(argument.partition(":")[2].strip(" <>"))
                await self.reply("250 OK")
            elif verb == "DATA":
                if not self.recipients:
                    await self.reply("503 RCPT first")
                    continue
                await self.reply("354 end with <CRLF>.<CRLF>")
                await self.data()
            elif verb in ("RSET", "NOOP"):
                self.sender, self.recipients = (None, []) if verb == "RSET" else (self.sender, self.recipients)
                await self.reply("250 OK")
            elif verb == "QUIT":
                await self.reply("221 bye")
                break
            else:
                await self.reply("502 not implemented")
        self.writer.close()

    async def data(self) -> None:
        lines: list[bytes] = []
        size = 0
        while True:
            line = await self.reader.readline()
            if not line or line in (b".\r\n", b".\n"):
                break
            size += len(line)
            if size <= MAX_BYTES:
                lines.append(line[1:] if line.startswith(b"..") else line)
        if size > MAX_BYTES:
            await self.reply("552 too large")
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}.eml"
        envelope = f"X-Envelope-From: {self.sender}\r\nX-Envelope-To: {', '.join(self.recipients)}\r\n".encode()
        tmp = self.folder / (name + ".part")
        tmp.write_bytes(envelope + b"".join(lines))
        tmp.rename(self.folder / name)
        self.recipients = []
        await self.reply("250 OK: kept as " + name)


async def serve(folder: Path, port: int, host: str = "127.0.0.1", ready: threading.Event | None = None,
                stop: asyncio.Event | None = None) -> None:
    server = await asyncio.start_server(lambda r, w: _Session(folder, r, w).run(), host, port)
    if ready is not None:
        ready.set()
    async with server:
        if stop is None:
            await server.serve_forever()
        else:
            await stop.wait()


class SmtpCatcher:
    """The catcher in a thread of this process: ``messages()`` lists what arrived (oldest first)."""

    def __init__(self, folder: Path, port: int):
        self.folder, self.port = Path(folder), port
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        self._loop.run_until_complete(serve(self.folder, self.port, ready=self._ready, stop=self._stop))

    def __enter__(self) -> "SmtpCatcher":
        self._ready = threading.Event()
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"the SMTP catcher did not start on port {self.port}")
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def messages(self) -> list[Path]:
        return sorted(self.folder.glob("*.eml")) if self.folder.exists() else []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=18025)
    parser.add_argument("--folder", type=Path, default=Path(".state/mail"))
    args = parser.parse_args(argv)
    print(f"SMTP catcher on 127.0.0.1:{args.port}, keeping messages in {args.folder}", flush=True)
    asyncio.run(serve(args.folder, args.port))


if __name__ == "__main__":
    main()
