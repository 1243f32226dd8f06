"""Backends: one package per backend, each implementing every port in :mod:`jobgate.ports`."""
