"""Refusals: an action that must not happen now, said in one sentence with what to do instead.

A refusal changes nothing. The warehouse raises one when a conditional change finds the record moved on, the use
cases when the lifecycle forbids an action; the adapters show its message as it is.
"""

from __future__ import annotations


class ImportRefused(Exception):
    """An import that must not start now; the message says why and what to do instead."""


class RecordChanged(ImportRefused):
    """The record changed under a conditional status change (another run got there first)."""
