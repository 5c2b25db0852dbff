"""Errors a user can fix. The CLI prints them as one line on stderr and exits with status 2."""


class UserError(Exception):
    """Bad path, bad option or bad data: something the user can correct, never a bug."""


def check_class_names(names: list[str], where: str) -> None:
    """labels.txt holds one class name per line, as on-device runtimes read it: a name with a line
    break (or another control character) would shift every label after it, so it is refused."""
    bad = [n for n in names if any(ord(c) < 32 or ord(c) == 127 for c in n)]
    if bad:
        raise UserError(f"class name {bad[0]!r} in {where} contains a line break or control character; "
                        "rename it (labels.txt keeps one class name per line)")


class ExportError(UserError):
    """The model cannot be exported as asked (for example it needs TFLite Flex ops)."""
