"""The local exchange simulator (interfaces.md §9): a faithful stand-in for Kalshi's market
side, Coinbase's ticker feed and Binance klines, driven by real or seeded BTC history.

Pure core (``prices``, ``settled``, ``schedule``, ``maker``, ``core``, ``stream``) and the
network edge (``server`` and friends) are separate so the in-process event stream and the
server's frames come from the same state; ``calibration`` holds the books against real
KXBTC15M data (``bench/run.py simcal``). Never imports ``trading`` or client code.
"""
