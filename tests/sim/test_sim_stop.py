"""A simulator that is going down executes nothing more, as a TWS that goes away: an order still in the
socket must not move the account (its execution report could never reach the client, and a restarted
broker would hold a position that no execution explains). Found by the order-safety drill under load."""

from __future__ import annotations

import asyncio

from terminal.sim.tws_server import SimServer


def test_an_order_read_after_stop_began_does_not_fill(run, ib_lib):
    sim = SimServer(port=0, seed=5, tick_interval=0.05)
    run(sim.start())
    client = ib_lib.IB()
    try:
        run(client.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=5))
        [contract] = run(client.qualifyContractsAsync(ib_lib.Stock("AAPL", "SMART", "USD")))
        sim.stopping = True  # stop() has begun: the ticker is being cancelled, sockets not yet closed
        client.placeOrder(contract, ib_lib.MarketOrder("BUY", 100))
        run(asyncio.sleep(0.3))
        assert sim.engine.executions_of(1) == []
        assert [p for p in sim.accounts.positions_of("DU1234567") if p.quantity] == []
    finally:
        client.disconnect()
        run(sim.stop())
