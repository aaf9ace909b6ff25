"""Records in real time until killed: the subprocess of ``tests/test_recording_kill.py``.

``python tests/_recording_child.py OUT.mcap``: every 10 ms (one round) hands the writer one
176-byte rx unit per device (:func:`payload`), now and then a tx command, a link event and a
time-sync probe, calls ``tick``, and prints ``ROUND T_HOST_S`` (repr) once the round's units
are handed over. Prints ``started`` first; stops by itself after 30 s.
"""

import struct
import sys
import time

from stridecore.recording import RecordingWriter, TimeSyncProbe

KEYS = ("left", "right")
ROUND_S = 0.01


def payload(device: int, round_i: int) -> bytes:
    """The rx unit of device index ``device`` in round ``round_i`` (176 B)."""
    return struct.pack("<II", device, round_i) * 22


def main(path: str) -> None:
    t0 = time.monotonic()
    with RecordingWriter(path, t0, session={"test": "kill"}) as w:
        for key in KEYS:
            w.add_device(key, {"placement": f"{key}_foot"})
        print("started", flush=True)
        i, due = 0, t0
        while time.monotonic() < t0 + 30.0:
            t = time.monotonic()
            for k, key in enumerate(KEYS):
                w.unit(key, "rx", t, payload(k, i))
            if i % 50 == 0:
                w.unit("left", "tx", t, b"\x01sync\x00")
                w.link_event("left", t, "rssi", dbm=-60)
                w.time_sync("left", TimeSyncProbe(i, t - 0.004, t, 1000 * i, 1000 * i + 20))
            print(i, repr(t), flush=True)
            i += 1
            due += ROUND_S
            time.sleep(max(0.0, due - time.monotonic()))
            w.tick(time.monotonic())


if __name__ == "__main__":
    main(sys.argv[1])
