"""One export run's shared state: :class:`RunContext`, what every stage of ``tgx export`` gets."""

from tgx.run.context import RunContext

__all__ = ["RunContext"]
