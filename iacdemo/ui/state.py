"""One place where every tab gets the app's shared services.

`AppContext` holds what is shared by all visitors of one server process: the settings, the loaded
model session, later the training job runner. Each is created lazily on first use (start-up stays
fast; a tab nobody opens costs nothing) and exactly once, under a lock, because Gradio runs event
handlers in worker threads.

Nothing per visitor lives here. Chat histories, the last built corpus and other per-browser-tab
values are `gr.State` components created inside the Blocks: Gradio keeps one copy per session, so two
visitors of a Space never see each other's conversation.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

from iacdemo.errors import IacdemoError
from iacdemo.generation.session import ModelSession
from iacdemo.models import load_tokenizer, pick_device
from iacdemo.settings import Settings, get_settings

T = TypeVar("T")


class AppContext:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.model_id: str = self.settings.default_model
        self._services: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._model_lock = threading.Lock()  # held while a model loads; the header reads it as "loading"
        self._model_session: Any = None

    # -- generic shared services (training runner, schema, ...) ----------------------------------------
    def service(self, name: str, factory: Callable[[], T]) -> T:
        """Return the shared service `name`, creating it with `factory()` the first time."""
        with self._lock:
            if name not in self._services:
                self._services[name] = factory()
            return self._services[name]

    def has_service(self, name: str) -> bool:
        return name in self._services

    # -- device ---------------------------------------------------------------------------------------
    def device(self) -> tuple[str, str]:
        """(device, dtype name) as the model loader will pick them; raises ConfigError for a bad setting."""
        device, dtype = pick_device(self.settings.device)
        return device, str(dtype).replace("torch.", "")

    # -- the current model ----------------------------------------------------------------------------
    @property
    def model_loaded(self) -> bool:
        return self._model_session is not None

    @property
    def model_loading(self) -> bool:
        return self._model_lock.locked()

    def model_session(self, progress: Callable[[float, str], None] | None = None):
        """The shared `ModelSession` of the current model, loaded on first use."""
        if self._model_session is not None:
            return self._model_session
        with self._model_lock:
            if self._model_session is None:
                self._model_session = ModelSession.load(self.model_id, settings=self.settings, progress=progress)
            return self._model_session

    def switch_model(self, model_id: str, progress: Callable[[float, str], None] | None = None):
        """Load `model_id` and make it current; on failure the previous model stays current."""
        model_id = (model_id or "").strip()
        if not model_id:
            raise IacdemoError("Pick a model first.")
        if model_id == self.model_id and self._model_session is not None:
            return self._model_session

        with self._model_lock:
            session = ModelSession.load(model_id, settings=self.settings, progress=progress)
            self._model_session = session  # the old one is dropped only once the new one works
            self.model_id = model_id
        return session

    def tokenizer(self, model_id: str | None = None):
        """A tokenizer for `model_id` (default: the current model) without loading its weights."""
        model_id = model_id or self.model_id
        session = self._model_session
        if session is not None and session.model_id == model_id:
            return session.tokenizer

        return self.service(f"tokenizer:{model_id}", lambda: load_tokenizer(model_id, self.settings))
