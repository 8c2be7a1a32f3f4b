"""Header rules shared by the request builder, the auth strategies, the client and the framework checks.

A leaf: it depends on the error types only, so anything may import it without forming a cycle.
"""

from __future__ import annotations

from ._errors import InputValidationError

# Keyword arguments of generated methods and the headers they travel in (all covered by the signature).
BINDING_HEADERS = {
    "principal_id": "X-Principal-Id",
    "user_id": "X-User-Id",
    "billing_account_id": "X-Billing-Account-Id",
    "billing_user_id": "X-Billing-User-Id",
}
# The realm_admin keyword: a flag the core sends as "true" when set, never as the caller's value.
REALM_ADMIN_HEADER = "X-Realm-Admin"
# Every header a spec may declare for the core to fill, by the keyword a generated method takes for it: the code
# generator turns exactly these header parameters into keywords, and the API tests read the specs with them.
ALL_BINDING_HEADERS = {**BINDING_HEADERS, "realm_admin": REALM_ADMIN_HEADER}


def header_value(name: str, value: str) -> str:
    """Header values travel signed and raw: refuse what would be mangled or split on the way."""
    if isinstance(value, str) and value.isascii() and value.isprintable() and value and value == value.strip():
        return value  # the common case, decided in C: printable ASCII without surrounding spaces
    if not isinstance(value, str):
        raise InputValidationError(f"{name} must be a string, got {type(value).__name__}", field=name)
    if not value.strip():
        raise InputValidationError(f"{name} must not be empty", field=name)
    if value != value.strip():
        # The server trims header values before checking the signature: surrounding spaces break it.
        raise InputValidationError(f"{name} must not start or end with whitespace", field=name)
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):  # C0, DEL and C1 controls
        raise InputValidationError(f"{name} must not contain control characters", field=name)
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise InputValidationError(f"{name} must be latin-1 text to travel in an HTTP header", field=name) from None
    return value
