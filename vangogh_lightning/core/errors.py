"""User-facing errors: one line that names the file or key and says what to do."""


class UserError(Exception):
    """A problem with the user's input or config; the scripts print it as one line."""
