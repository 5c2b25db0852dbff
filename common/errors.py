"""Errors a user can fix. The CLI prints them as one line on stderr and exits with status 2."""


class UserError(Exception):
    """Bad path, bad option or bad data: something the user can correct, never a bug."""


class ExportError(UserError):
    """The model cannot be exported as asked (for example it needs TFLite Flex ops)."""
