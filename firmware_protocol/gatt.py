"""GATT layout of a v1 sensor: one primary service, an RX and a TX characteristic.

All UUIDs share one random 128-bit base chosen once for the project (``8c15xxxx-…``), with the
16-bit part in bytes 2–3 as Nordic's UART service does.
"""

UUID_BASE = "8c15{:04x}-f7cf-40cb-a083-142a3a3535c7"
SERVICE_UUID = UUID_BASE.format(0x0001)
RX_CHAR_UUID = UUID_BASE.format(0x0002)  # host -> device: write / write without response
TX_CHAR_UUID = UUID_BASE.format(0x0003)  # device -> host: notify (replies, data, status)
PREFERRED_MTU = 247
CONNECTION_INTERVAL_MS = (15.0, 30.0)
