"""Live running-form coaching: step rows in, spoken cues out (issue 9).

:class:`CueEngine` turns the pipeline's STEPS rows (foot, shin, thigh, pelvis; host clock) into
:class:`CueDecision` s under the policy of ``docs/coaching.md``; :class:`Kit` says which cues a
set of sensors can give; :class:`CoachConfig` holds every setting.
"""

from stridecore.coaching.config import CoachConfig
from stridecore.coaching.engine import CueEngine
from stridecore.coaching.events import CueDecision, SystemEvent
from stridecore.coaching.kit import STANDARD_KITS, Kit, kit_table
from stridecore.coaching.rules import RULES, Rule

__all__ = ["RULES", "STANDARD_KITS", "CoachConfig", "CueDecision", "CueEngine", "Kit", "Rule",
           "SystemEvent", "kit_table"]
