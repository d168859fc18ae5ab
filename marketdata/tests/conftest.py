from marketdata.sim.testing import sim_exchange

__all__ = ["sim_exchange"]
