"""Hypothesis strategies for every Gen 2 message, in every legal length."""

from __future__ import annotations

from hypothesis import strategies as st

from twcdirector.protocol import (
    CloseContactors,
    CloseContactorsAck,
    ControllerHeartbeat,
    ControllerLinkReady1,
    ControllerLinkReady2,
    HeartbeatCommand,
    IdleBroadcast,
    Message,
    MeterReply,
    MeterRequest,
    OpenContactors,
    OpenContactorsAck,
    PeripheralHeartbeat,
    PeripheralLinkReady,
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
)

ids = st.integers(0, 0xFFFF)
bytes8 = st.integers(0, 0xFF)
#: Amps as they can exist on the wire: whole centi-amps.
amps = st.integers(0, 0xFFFF).map(lambda centi: centi / 100)
heartbeat_commands = st.one_of(st.sampled_from(list(HeartbeatCommand)), bytes8)
states = st.one_of(st.sampled_from(list(PeripheralState)), bytes8)


def _normalise(value: int, enum: type[HeartbeatCommand] | type[PeripheralState]) -> int:
    """Decoding yields the enum member for a known code; compare like with like."""
    try:
        return enum(value)
    except ValueError:
        return value


def _text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=max_size)


def _texts(cls: type[SerialReply] | type[VinHighReply]) -> st.SearchStrategy[Message]:
    return st.sampled_from([14, 16, 20]).flatmap(
        lambda length: st.builds(cls, ids, _text(length - 5), st.just(length))
    )


addressed_lengths = st.sampled_from([13, 14, 15, 16])
normal_lengths = st.sampled_from([14, 16])

controller_messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(ControllerLinkReady1, ids, bytes8, ids, normal_lengths),
    st.builds(ControllerLinkReady2, ids, bytes8, ids, addressed_lengths),
    st.builds(
        ControllerHeartbeat,
        ids,
        ids,
        heartbeat_commands.map(lambda c: _normalise(c, HeartbeatCommand)),
        amps,
        bytes8,
        addressed_lengths,
    ),
    *(
        st.builds(cls, ids, ids, addressed_lengths)
        for cls in (
            MeterRequest,
            VersionRequest,
            SerialRequest,
            VinHighRequest,
            VinMidRequest,
            VinLowRequest,
        )
    ),
    st.builds(CloseContactors, ids, ids, normal_lengths),
    st.builds(OpenContactors, ids, ids, normal_lengths),
    st.builds(IdleBroadcast, ids, normal_lengths),
)

peripheral_messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(PeripheralLinkReady, ids, bytes8, amps, normal_lengths),
    st.builds(
        PeripheralHeartbeat,
        ids,
        ids,
        states.map(lambda s: _normalise(s, PeripheralState)),
        amps,
        amps,
        normal_lengths,
    ),
    st.sampled_from([16, 20]).flatmap(
        lambda length: st.builds(
            MeterReply,
            ids,
            st.integers(0, 0xFFFFFFFF),
            st.tuples(ids, ids, ids),
            st.just(length),
            st.binary(min_size=length - 15, max_size=length - 15),
        )
    ),
    st.builds(
        VersionReply,
        ids,
        st.tuples(bytes8, bytes8, bytes8, bytes8),
        st.sampled_from([14, 16, 20]),
    ),
    *(_texts(cls) for cls in (SerialReply, VinHighReply, VinMidReply, VinLowReply)),
    st.builds(CloseContactorsAck, ids, normal_lengths),
    st.builds(OpenContactorsAck, ids, normal_lengths),
)

messages = st.one_of(controller_messages, peripheral_messages)
