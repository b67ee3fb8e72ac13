"""Converting an open position's product (`PUT /portfolio/positions`): intraday (MIS) to delivery
(CNC, equity) or carry-forward (NRML, F&O), and back.

Part of the quantity moves from one position to the other at its average price, as on Kite: no
order, no trade, no charges. `position_type` says which part: `day` (today's buys or sells) or
`overnight` (what was carried in, which only NRML positions have here: CNC buys become holdings
at the end of the day). A conversion the funds do not cover (MIS to CNC or NRML blocks more) is
refused with Kite's insufficient-funds message. Kite publishes no texts for the other refusals;
they are written in its style (unverified).
"""
from __future__ import annotations

import datetime as dt

from sandbox import accounting as acc
from sandbox.accounting import ZERO
from sandbox.clock import book_day
from sandbox.engine.book import Book, locked_book
from sandbox.engine.margins import margin_summary, sellable_quantity
from sandbox.engine.scheduler import book_advance
from sandbox.engine.spec import Form
from sandbox.errors import InputError, MarginError
from sandbox.models import PaperUser, Position
from sandbox.universe import Instrument, instrument_by_key

PAIRS = {False: {("MIS", "CNC"), ("CNC", "MIS")}, True: {("MIS", "NRML"), ("NRML", "MIS")}}


def _choice(params: Form, name: str, choices: tuple[str, ...], *, lower: bool = False) -> str:
    raw = params.get(name)
    if raw in (None, ""):
        raise InputError(f"Missing `{name}`.")
    value = str(raw).strip().lower() if lower else str(raw).strip().upper()
    if value not in choices:
        raise InputError(f"Invalid `{name}` {raw!r}: use one of {', '.join(choices)}.")
    return value


def _quantity(params: Form, inst: Instrument) -> int:
    raw = params.get("quantity")
    try:
        quantity = int(str(raw).strip())
    except (TypeError, ValueError):
        raise InputError(f"Invalid `quantity` {raw!r}: expected a whole number.") from None
    if quantity < 1:
        raise InputError(f"Invalid `quantity` {raw!r}: it must be at least 1.")
    if quantity % max(inst.lot_size, 1):
        raise InputError(f"Invalid `quantity` {quantity}: {inst.key} trades in lots of {inst.lot_size}.")
    return quantity


def convertible_quantity(pos: Position | None, side: str, position_type: str) -> int:
    """How much of `pos` on `side` (BUY: long, SELL: short) can be converted: of the open quantity,
    the part bought or sold today (`day`) or the part carried in (`overnight`). Pure."""
    if pos is None:
        return 0
    sign = 1 if side == "BUY" else -1
    open_quantity = max(0, sign * pos.quantity)
    overnight = max(0, sign * pos.overnight_quantity)
    part = overnight if position_type == "overnight" else max(0, sign * (pos.quantity - pos.overnight_quantity))
    return min(open_quantity, part)


def _move_day(source: Position, target: Position, side: str, quantity: int) -> None:
    if side == "BUY":
        value = source.day_buy_value / source.day_buy_quantity * quantity
        source.day_buy_quantity, source.day_buy_value = source.day_buy_quantity - quantity, source.day_buy_value - value
        target.day_buy_quantity, target.day_buy_value = target.day_buy_quantity + quantity, target.day_buy_value + value
    else:
        value = source.day_sell_value / source.day_sell_quantity * quantity
        source.day_sell_quantity = source.day_sell_quantity - quantity
        source.day_sell_value = source.day_sell_value - value
        target.day_sell_quantity = target.day_sell_quantity + quantity
        target.day_sell_value = target.day_sell_value + value


def _move_overnight(source: Position, target: Position, side: str, quantity: int) -> None:
    moved = quantity if side == "BUY" else -quantity
    carried = abs(target.overnight_quantity)
    if target.overnight_quantity and (target.overnight_quantity > 0) == (moved > 0):
        target.overnight_average = ((target.overnight_average * carried + source.overnight_average * quantity)
                                    / (carried + quantity))
    else:
        target.overnight_average = source.overnight_average
    target.overnight_close = source.overnight_close
    target.overnight_quantity += moved
    source.overnight_quantity -= moved


def _convert_in_book(book: Book, *, inst: Instrument, side: str, position_type: str, quantity: int, old: str,
                     new: str, now: dt.datetime) -> None:
    source = book.positions.get((inst.instrument_token, old))
    available = convertible_quantity(source, side, position_type)
    if quantity > available:
        raise InputError(f"Cannot convert {quantity}: the {position_type} {old} "
                         f"{'long' if side == 'BUY' else 'short'} position in {inst.key} is {available}.")
    assert source is not None
    if side == "SELL" and not inst.is_derivative:
        if old == "CNC":
            raise InputError("A sale of holdings cannot be converted to an intraday position.")
        holding = book.holdings.get(inst.instrument_token)
        if holding is None or quantity > min(sellable_quantity(book, inst), holding.quantity - holding.used_quantity):
            raise InputError(f"Cannot convert the short position in {inst.key} to CNC: not enough holdings to "
                             "deliver.")
        holding.used_quantity += quantity  # a delivery sale now: the shares leave the holdings tonight
        book.touch(holding)
    target = book.position(inst, new)
    before = margin_summary(book, now).net
    (_move_overnight if position_type == "overnight" else _move_day)(source, target, side, quantity)
    after = margin_summary(book, now).net
    if after < 0 and after < before:
        required = before - after
        raise MarginError(f"Insufficient funds. Required margin is {acc.money(required):.2f} but available margin "
                          f"is {acc.money(max(before, ZERO)):.2f}.")
    book.touch(source)
    book.touch(target)


def position_convert(*, user: PaperUser, params: Form, now: dt.datetime) -> bool:
    """Convert `quantity` of an open position from `old_product` to `new_product`; True, as Kite answers."""
    exchange = _choice(params, "exchange", ("NSE", "BSE", "NFO", "CDS", "BFO", "MCX", "BCD"))
    symbol = str(params.get("tradingsymbol") or "").strip().upper()
    if not symbol:
        raise InputError("Missing `tradingsymbol`.")
    inst = instrument_by_key(f"{exchange}:{symbol}", book_day(now))
    if inst is None or inst.is_index:
        raise InputError("The instrument you are converting has either expired or does not exist.")
    side = _choice(params, "transaction_type", ("BUY", "SELL"))
    position_type = _choice(params, "position_type", ("day", "overnight"), lower=True)
    old = _choice(params, "old_product", ("CNC", "NRML", "MIS", "MTF"))
    new = _choice(params, "new_product", ("CNC", "NRML", "MIS", "MTF"))
    if (old, new) not in PAIRS[inst.is_derivative]:
        allowed = " or ".join(f"{a} to {b}" for a, b in sorted(PAIRS[inst.is_derivative]))
        raise InputError(f"Cannot convert {old} to {new} for {inst.key}: convert {allowed}.")
    quantity = _quantity(params, inst)
    with locked_book(user.pk) as book:
        book_advance(book, now)
        _convert_in_book(book, inst=inst, side=side, position_type=position_type, quantity=quantity, old=old,
                         new=new, now=now)
    return True

