"""Synthetic IMU motion: sources the simulated sensor samples from."""

from stridecore.simulate.motion import MotionSource, PeriodicGait

__all__ = ["MotionSource", "PeriodicGait"]
