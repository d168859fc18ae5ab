"""The live lane under stress against the simulator (issue #23): the kill -9 chaos harness
(``harness``), what it checks against the exchange account (``account``), and the canary's
promotion gates (``gates``). ``manage.py chaos`` and ``manage.py canary`` run them."""
