"""The people's roles (CONTRACT 3: people.csv) and the one answer to "who counts as a
supervisor in the field": the people nearest search looks for (orders, SOS, the API's
/api/nearest, the console's suggestion), the coverage layer counts and the per-grid
supervisor measure shows. Not the control room (coordinators, duty officers) nor informants."""
from __future__ import annotations

ROLES = ("l1_supervisor", "l2_supervisor", "assistant", "informant", "coordinator", "duty_officer")

SUPERVISOR_ROLES = ("l2_supervisor", "l1_supervisor", "assistant")
