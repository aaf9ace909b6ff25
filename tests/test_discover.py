"""``stridecore devices``: sensors found on serial ports (a real pty with the simulated firmware)
and over Bluetooth LE (bleak over bumble); what is not a sensor is not listed."""

from __future__ import annotations

import asyncio
import os

from stridecore.cli import main
from stridecore.discover import find_sensors
from stridecore.testing.pty_sensor import PtySensor, SineMotion


def test_a_sensor_on_a_serial_port_is_found_with_its_placement(capsys):
    with PtySensor("sim://?placement=left_shin&uid=SHIN0001", motion=SineMotion()) as sensor:
        silent_master, silent = os.openpty()  # a port where nothing answers
        try:
            found, notes = asyncio.run(find_sensors(
                ble=False, serial_ports=[os.ttyname(silent), sensor.port], info_timeout_s=0.5))
        finally:
            os.close(silent_master)
            os.close(silent)
        assert notes == []
        assert [(f.kind, f.address, f.placement, f.uid) for f in found] == [
            ("serial", sensor.port, "left_shin", "SHIN0001")]
        assert found[0].url == f"serial://{sensor.port}" and found[0].firmware
        # the CLI prints it, one line per sensor
        assert main(["devices", "--no-ble", "--port", sensor.port]) == 0
        out = capsys.readouterr().out
        assert sensor.port in out and "left_shin" in out and "SHIN0001" in out


def test_nothing_found_is_one_line_and_exit_1(capsys):
    master, slave = os.openpty()
    try:
        rc = main(["devices", "--no-ble", "--port", os.ttyname(slave)])
    finally:
        os.close(master)
        os.close(slave)
    err = capsys.readouterr().err
    assert rc == 1 and err.strip().splitlines() == ["stridecore: error: no sensors found"]
    assert "Traceback" not in err
