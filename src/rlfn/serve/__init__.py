"""``rlfn serve``: a local web page and an HTTP API over :class:`rlfn.Upscaler` (needs ``rlfn[serve]``).

>>> from rlfn.serve import Catalogue, Settings, create_app
>>> app = create_app(Catalogue.from_models([rlfn.load_model("rlfn_s", 4)]), Settings(workers=1))

``app`` is an ASGI application (FastAPI); ``rlfn serve`` runs it on uvicorn. See ``docs/serve.md``.
"""
from .app import Settings, create_app
from .catalogue import Catalogue, OptionError
from .jobs import JobQueue, QueueFull

__all__ = ["create_app", "Settings", "Catalogue", "OptionError", "JobQueue", "QueueFull"]
