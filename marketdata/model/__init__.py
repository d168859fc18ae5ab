"""The pure market model: events, units, order book, candles and fees.

No Django, no I/O, no wall clock. The simulator and the decision engine both import it.
"""
