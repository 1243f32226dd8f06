"""Test support that ships with jobgate: an in-memory backend with a clock turned by hand
(:mod:`jobgate.testing.memory`) and an AWS emulator (:mod:`jobgate.testing.emulator`, needs the
``dev`` extra)."""
