"""Billing accounts and billing users (auto-created on first sight, like the server); wallets are in ``wallets``."""

from __future__ import annotations

import uuid
from typing import Dict, Optional

from .._state import Account, User
from .realm import Realm, locked

__all__ = ["Accounts"]


class Accounts:
    """Accounts and users by principal id, and the wallet balance view."""

    def __init__(self, realm: Realm) -> None:
        self.realm = realm

    @locked
    def ensure_account(self, principal_id: str) -> Account:
        """Find or auto-create the billing account of a principal."""
        account = self.realm.accounts.get(principal_id)
        if account is None:
            account = Account(
                billing_account_id=str(uuid.uuid4()), principal_id=principal_id, created_at=self.realm.now()
            )
            self.realm.accounts[principal_id] = account
        return account

    @locked
    def ensure_user(self, account: Account, user_id: str) -> User:
        """Find or auto-create a billing user inside an account."""
        user = account.users.get(user_id)
        if user is None:
            now = self.realm.now()
            user = User(
                billing_user_id=str(uuid.uuid4()), user_id=user_id, account=account, created_at=now, updated_at=now
            )
            account.users[user_id] = user
        return user

    @locked
    def ensure_runtime_user(self, principal_id: str, user_id: str) -> User:
        """The billing user of ``user_id`` inside the account of ``principal_id``, both created as needed."""
        return self.ensure_user(self.ensure_account(principal_id), user_id)

    @locked
    def find_account_by_id(self, billing_account_id: str) -> Optional[Account]:
        """The account with this billing account id, or ``None``."""
        for account in self.realm.accounts.values():
            if account.billing_account_id == billing_account_id:
                return account
        return None

    @locked
    def find_user_by_id(self, billing_user_id: str) -> Optional[User]:
        """The user with this billing user id, or ``None``."""
        for account in self.realm.accounts.values():
            for user in account.users.values():
                if user.billing_user_id == billing_user_id:
                    return user
        return None

    @locked
    def billing_ids(self, principal_id: str, user_id: Optional[str]) -> Dict[str, str]:
        """``billing_account_id`` (and ``billing_user_id``) of a principal (and user), created as needed."""
        account = self.ensure_account(principal_id)
        ids = {"billing_account_id": account.billing_account_id}
        if user_id is not None:
            ids["billing_user_id"] = self.ensure_user(account, user_id).billing_user_id
        return ids
