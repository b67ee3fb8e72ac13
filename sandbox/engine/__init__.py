"""The paper-trading engine: orders, fills, positions, holdings, cash, and the trading day.

One module per concern, imported from where it lives (nothing is re-exported here). From the
bottom up, each importing only those before it:

- `spec`: the order vocabulary (statuses, varieties, limits) and parsing a place-order form;
- `payload`: an order as Kite shows it;
- `book`: the unit of work, one user's books loaded (and written back) under that user's lock;
- `margins`: what the books block and what an order needs (Kite's RMS check);
- `lifecycle`: what happens to an order inside a locked book (placed, modified, cancelled, filled,
  rejected, squared off);
- `scheduler`: the passage of time (the price path, the open, the MIS square-off, the close, the
  end of the day), applied lazily whenever a user's books are next touched;
- `services`: what the views call: lock the book, bring it up to now, act.
"""
