"""Session recordings: one MCAP file per session with every wire unit, link event, time-sync
probe and configuration of each device, exactly as live (format in :mod:`.format`)."""

from stridecore.recording.format import FORMAT_VERSION, TimeSyncProbe
from stridecore.recording.reader import (
    RecordingError,
    RecordingReader,
    UnitBlock,
    UnitRun,
    open_recording,
)
from stridecore.recording.writer import RecordingParams, RecordingWriter

__all__ = [
    "FORMAT_VERSION",
    "RecordingError",
    "RecordingParams",
    "RecordingReader",
    "RecordingWriter",
    "TimeSyncProbe",
    "UnitBlock",
    "UnitRun",
    "open_recording",
]
