"""Exception types of the domain: each message names the field, the value and what would be valid."""


class DomainError(ValueError):
    """Base of every validation error raised by the domain model."""


class ValidationError(DomainError):
    """A value does not satisfy the rules of its field."""


class InvalidInstrument(DomainError):
    """An instrument description is incomplete or inconsistent."""


class OrderRejected(DomainError):
    """An order cannot be sent: the message says which rule and why."""

    def __init__(self, message: str, rule: str = "validation") -> None:
        super().__init__(message)
        self.rule = rule
