"""Conversations: declarative flow definitions and the engine that walks them."""

from flows.engine import Engine, normalize_answer
from flows.errors import FlowDefinitionError
from flows.i18n import AUTONYMS, Catalogs, autonym
from flows.loader import DEFINITIONS_DIR, load_flows
from flows.model import Flow, Option, Place, PlaceDirectory, Screen, Step, Submission

__all__ = [
    "AUTONYMS",
    "DEFINITIONS_DIR",
    "Catalogs",
    "Engine",
    "Flow",
    "FlowDefinitionError",
    "Option",
    "Place",
    "PlaceDirectory",
    "Screen",
    "Step",
    "Submission",
    "autonym",
    "load_flows",
    "normalize_answer",
]
