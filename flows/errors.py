"""Exceptions raised by the flows package."""


class FlowDefinitionError(Exception):
    """A flow file is malformed; the message names the file and the step."""
