"""stridecore sensor wire protocol v1: frames, COBS, CRC, messages and a sans-I/O decoder.

No I/O and no dependency beyond numpy, so firmware tooling can use it alone. The spec is
``PROTOCOL.md`` beside this file.
"""

from firmware_protocol.batch import FRAME_DTYPE, Batch, Gap, Message, SampleFlag, Samples
from firmware_protocol.cobs import CobsError, cobs_decode, cobs_encode
from firmware_protocol.crc import crc16
from firmware_protocol.decoder import PROBLEM_KINDS, StreamDecoder
from firmware_protocol.frame import (
    MAX_FRAME_LEN,
    PROTOCOL_VERSION,
    Frame,
    FrameError,
    FrameType,
    decode_frame,
    encode_frame,
)
from firmware_protocol.imu6 import encode_imu6, frame_len
from firmware_protocol.messages import encode_command

__all__ = [
    "FRAME_DTYPE",
    "MAX_FRAME_LEN",
    "PROBLEM_KINDS",
    "PROTOCOL_VERSION",
    "Batch",
    "CobsError",
    "Frame",
    "FrameError",
    "FrameType",
    "Gap",
    "Message",
    "SampleFlag",
    "Samples",
    "StreamDecoder",
    "cobs_decode",
    "cobs_encode",
    "crc16",
    "decode_frame",
    "encode_command",
    "encode_frame",
    "encode_imu6",
    "frame_len",
]
