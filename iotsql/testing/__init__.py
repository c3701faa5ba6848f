"""Tools for testing rules: `RuleTester` (assertions over a RulesEngine, usable without pytest),
the pytest plugin (`iotsql.testing.plugin`: the `iot` and `iot_rules` fixtures), and the
conformance runner (`iotsql.testing.conformance`)."""

from iotsql.testing.assertions import RuleTester

__all__ = ["RuleTester"]
