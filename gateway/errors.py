"""Small named exceptions shared across the gateway."""


class GatewayError(Exception):
    """Base class for errors raised by the gateway."""


class ConfigError(GatewayError):
    """A setting is missing, malformed or unsafe."""


class ImportRowError(GatewayError):
    """A row of an imported CSV file is invalid."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class TransientSendError(GatewayError):
    """The provider could not take a message now; trying again later may work."""


class PermanentSendError(GatewayError):
    """The provider refused a message for good."""


class DatabaseBehind(GatewayError):
    """The database schema is not the one this version of the gateway needs."""
