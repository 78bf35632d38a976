"""The error a request gets: a status, a one-line message and headers, answered as JSON by the app."""
from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class ClientGone(Exception):
    """The client went away before its request was read: nobody to answer, nothing to log but a line."""
