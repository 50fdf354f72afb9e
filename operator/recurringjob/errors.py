"""Errors caused by the user's input: printed as one clear line, never as a traceback."""


class UserError(Exception):
    """Bad input (file, flag, cron expression, time zone). The message says what and what to do."""
