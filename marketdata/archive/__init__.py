"""The event archive: daily compressed columnar files of recorded or generated streams.

``write_events`` / ``read_events`` (``store``) are the API; ``columns`` maps every event
kind of ``marketdata.model.events`` to one Arrow table and back, exactly.
"""
