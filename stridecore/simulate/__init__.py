"""Running biomechanics simulator: labelled synthetic IMU streams of trail runs.

Layers: :mod:`route` (terrain) → :mod:`runner` / :mod:`profiles` (what the runner intends, one
plan row per foot contact, closed loop for cues) → :mod:`body` (segment kinematics) →
:mod:`imu` (sensor model) → :mod:`render` (samples + measured truth) → :mod:`session` (all of
it as a labelled recording). :mod:`realism` compares it with real recordings.

``__version__`` is tagged whenever the model changes what it renders: detectors tuned on one
version are reported on seeds and mountings they were not tuned on (``session.SPLIT_RULE``).
"""

from stridecore.simulate.motion import MotionSource

__version__ = "1.2.0"

__all__ = ["MotionSource", "__version__"]
