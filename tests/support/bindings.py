"""Typed binding keyword sets, so ``client.gate.authorize(**WHO)`` is checked key by key (a plain dict is not)."""

from __future__ import annotations

from typing import TypedDict


class Who(TypedDict):
    """The runtime bindings of one payer's user."""

    principal_id: str
    user_id: str


class Account(TypedDict):
    """The billing account an ops or contracts route acts for."""

    billing_account_id: str
