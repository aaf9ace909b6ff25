"""Test helpers that stand in for hardware (not used by the runtime path)."""
