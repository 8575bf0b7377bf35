"""Decode 24 hours of a 3-peripheral bus and print frames per second and peak memory.

A benchmark, not a test: it prints figures. Goal (issue 2): at least 150,000 frames/s on one
core. Run: ``python3 benchmarks/decode.py [--hours 24] [--chunk 4096]``.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

from twcdirector.protocol import (
    ControllerHeartbeat,
    FrameDecoder,
    HeartbeatCommand,
    MeterReply,
    MeterRequest,
    PeripheralHeartbeat,
    PeripheralState,
    SerialReply,
    SerialRequest,
    VersionReply,
    VersionRequest,
    VinHighReply,
    VinHighRequest,
    VinLowReply,
    VinLowRequest,
    VinMidReply,
    VinMidRequest,
    encode,
    encode_reply,
)

CONTROLLER = 0xF00D
PERIPHERALS = (0x1839, 0x2019, 0x2433)
HEARTBEAT = 1.3
DATA_PERIOD = 11.8
TAIL = b"\xfe"


def _exchanges(unit: int, second: int) -> list[bytes]:
    """One heartbeat exchange and, one in ~9 heartbeats, a data exchange (SPEC §8.3)."""
    beat = encode(ControllerHeartbeat(CONTROLLER, unit, HeartbeatCommand.SET_SESSION_CURRENT, 16.0))
    status = encode_reply(
        PeripheralHeartbeat(unit, CONTROLLER, PeripheralState.CHARGING, 16.0, 15.87 + second % 7)
    )
    return [beat, status + TAIL]


def _data_pairs(unit: int) -> list[tuple[bytes, bytes]]:
    return [
        (
            encode(MeterRequest(CONTROLLER, unit)),
            encode_reply(MeterReply(unit, 924, (244, 240, 245), 20, b"\x1e\x1f\x20\x00\x00")),
        ),
        (encode(VersionRequest(CONTROLLER, unit)), encode_reply(VersionReply(unit, (4, 5, 3, 2)))),
        (encode(SerialRequest(CONTROLLER, unit)), encode_reply(SerialReply(unit, "A18B0001234"))),
        (encode(VinHighRequest(CONTROLLER, unit)), encode_reply(VinHighReply(unit, "5YJ3E1E"))),
        (encode(VinMidRequest(CONTROLLER, unit)), encode_reply(VinMidReply(unit, "A1KF123"))),
        (encode(VinLowRequest(CONTROLLER, unit)), encode_reply(VinLowReply(unit, "456"))),
    ]


def synthetic_bus(hours: float) -> tuple[bytes, int]:
    """The wire bytes of ``hours`` of bus time and the number of frames in them."""
    seconds = hours * 3600
    beats = int(seconds / HEARTBEAT)
    requests_per_beat = 6 * HEARTBEAT / DATA_PERIOD  # ~0.66 of a request per heartbeat
    chunks: list[bytes] = []
    frames = 0
    pairs = {unit: _data_pairs(unit) for unit in PERIPHERALS}
    owed = 0.0
    for beat in range(beats):
        for index, unit in enumerate(PERIPHERALS):
            chunks.extend(_exchanges(unit, beat))
            frames += 2
            owed += requests_per_beat
            if owed >= 1:
                owed -= 1
                request, reply = pairs[unit][(beat + index) % 6]
                chunks.extend((request, reply + TAIL))
                frames += 2
    return b"".join(chunks), frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="bus time to decode (24)")
    parser.add_argument("--chunk", type=int, default=4096, help="bytes per feed() call (4096)")
    args = parser.parse_args()

    stream, frames = synthetic_bus(args.hours)
    print(
        f"stream: {args.hours:g} h of a 3-peripheral bus, {frames:,} frames, {len(stream):,} bytes"
    )
    for chunk in (args.chunk, 64, 19):
        decoder = FrameDecoder()
        start = time.perf_counter()
        decoded = 0
        for offset in range(0, len(stream), chunk):
            decoded += len(decoder.feed(stream[offset : offset + chunk]))
        elapsed = time.perf_counter() - start
        if decoded != frames or decoder.error_count:
            raise SystemExit(f"decoded {decoded} of {frames} frames, errors {decoder.errors}")
        print(f"feed({chunk:>5} B): {frames / elapsed:>10,.0f} frames/s  ({elapsed:.2f} s)")

    tracemalloc.start()
    decoder = FrameDecoder()
    for offset in range(0, len(stream), args.chunk):
        decoder.feed(stream[offset : offset + args.chunk])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"decoder peak allocation while decoding: {peak / 1024:,.0f} KiB")
    print(f"process peak RSS (includes the {len(stream) / 2**20:.1f} MiB stream): {rss:,.1f} MiB")


if __name__ == "__main__":
    main()
