"""stridecore: shoe- and shin-mounted IMUs to live running-form coaching."""

__version__ = "0.1.0"
