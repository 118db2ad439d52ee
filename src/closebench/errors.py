"""User-facing errors: one line saying what is wrong and what to do, never a traceback."""


class UserError(Exception):
    """A problem the user can fix (bad input, missing tool, no permission).

    The CLI prints `closebench: error: <message>` and exits with `exit_code`.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def where(path: object, field: str | None = None) -> str:
    """Format a location for error messages: `file.toml: field.sub`."""
    return f"{path}: {field}" if field else str(path)
