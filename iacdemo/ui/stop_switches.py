"""Per-visitor stop switches shared by every tab that runs a long generation."""
from __future__ import annotations

import threading


class StopSwitches:
    """One stop switch per visitor (keyed by Gradio's session hash), so Stop ends only your generation.

    A `threading.Event` cannot live in a `gr.State` (states are deep-copied per session), so the tab
    keeps this small map; an entry lives only while that visitor's generation runs.
    """

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def arm(self, key: str) -> threading.Event:
        """A fresh switch for a new generation; a still-running older one of the same visitor is stopped."""
        event = threading.Event()
        with self._lock:
            old = self._events.get(key)
            if old is not None:
                old.set()
            self._events[key] = event
        return event

    def stop(self, key: str) -> bool:
        with self._lock:
            event = self._events.get(key)
        if event is None:
            return False
        event.set()
        return True

    def release(self, key: str, event: threading.Event) -> None:
        with self._lock:
            if self._events.get(key) is event:
                del self._events[key]

    def __len__(self) -> int:
        return len(self._events)
