"""The recorder (journal of consumed events + derived tables) and its reader."""

from marketdata.recorder.reader import iter_events, session_gaps
from marketdata.recorder.writer import Recorder, RecorderStats

__all__ = ["Recorder", "RecorderStats", "iter_events", "session_gaps"]
