"""The AWS IoT SQL function library, one module per family; importing this package registers
every function in `registry.REGISTRY`."""

from iotsql.functions import (  # noqa: F401  (each module registers its functions on import)
    context,
    encoding,
    external,
    json,
    math,
    string,
    time,
)
from iotsql.functions.registry import REGISTRY, FunctionSpec, function, lookup

__all__ = ["REGISTRY", "FunctionSpec", "function", "lookup"]
