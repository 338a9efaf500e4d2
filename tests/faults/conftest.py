"""Fault tests start real gateway processes; see processes.py."""

from tests.faults.processes import processes  # noqa: F401 - a fixture
