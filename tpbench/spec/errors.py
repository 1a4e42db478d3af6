"""Errors that are the user's to fix: the CLI prints them as one line and exits 2."""


class UserError(Exception):
    """Bad input named in the message (irreps, kernel, suite, device, file)."""
