"""The bottom layer: process plumbing every app may import (the one ORM gate for async code,
spill files, the API permission). Not a Django app; it imports nothing from ``trading``,
``marketdata`` or ``kbtc_site``, so ``kbtc_site`` stays the top layer (settings, URLs, the
demo's wiring) and no app imports upwards into it."""
