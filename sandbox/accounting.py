"""Pure position and margin arithmetic (Kite's formulas), in Decimal. No database access."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sandbox.universe import Instrument

ZERO = Decimal("0")
MIS_EQUITY_MARGIN = Decimal("0.20")  # 5x intraday leverage
SPAN_RATE = Decimal("0.10")
EXPOSURE_RATE = Decimal("0.03")
TICK = Decimal("0.05")


def dec(value: float | int | str | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def money(value: Decimal) -> float:
    """A money amount as Kite sends it: a JSON number, to the paisa."""
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def price(value: Decimal) -> float:
    """A price or an average: a JSON number with the precision it has (at most 6 places)."""
    return float(value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP).normalize())


def on_tick(value: Decimal, tick: float) -> bool:
    step = dec(tick or 0.05)
    return (value / step) == (value / step).to_integral_value()


@dataclass(frozen=True)
class Legs:
    """The quantities and values a position is made of, for the net or the day view."""

    buy_quantity: int
    buy_value: Decimal
    buy_m2m: Decimal
    sell_quantity: int
    sell_value: Decimal
    sell_m2m: Decimal

    @property
    def quantity(self) -> int:
        return self.buy_quantity - self.sell_quantity


def net_legs(pos) -> Legs:
    """Today's trades plus what was carried in (valued at cost, and at yesterday's close for m2m)."""
    long_in, short_in = max(pos.overnight_quantity, 0), max(-pos.overnight_quantity, 0)
    return Legs(
        pos.day_buy_quantity + long_in,
        pos.day_buy_value + long_in * pos.overnight_average,
        pos.day_buy_value + long_in * pos.overnight_close,
        pos.day_sell_quantity + short_in,
        pos.day_sell_value + short_in * pos.overnight_average,
        pos.day_sell_value + short_in * pos.overnight_close,
    )


def day_legs(pos) -> Legs:
    return Legs(pos.day_buy_quantity, pos.day_buy_value, pos.day_buy_value,
                pos.day_sell_quantity, pos.day_sell_value, pos.day_sell_value)


def _avg(value: Decimal, quantity: int) -> Decimal:
    return value / quantity if quantity else ZERO


def position_figures(legs: Legs, last_price: Decimal) -> dict[str, Decimal | int]:
    """Kite's position arithmetic: pnl = (sell value - buy value) + quantity x last price."""
    quantity = legs.quantity
    buy_price, sell_price = _avg(legs.buy_value, legs.buy_quantity), _avg(legs.sell_value, legs.sell_quantity)
    pnl = legs.sell_value - legs.buy_value + quantity * last_price
    realised = min(legs.buy_quantity, legs.sell_quantity) * (sell_price - buy_price)
    average = buy_price if quantity > 0 else sell_price if quantity < 0 else ZERO
    return {
        "quantity": quantity,
        "average_price": average,
        "value": legs.sell_value - legs.buy_value,
        "pnl": pnl,
        "m2m": legs.sell_m2m - legs.buy_m2m + quantity * last_price,
        "realised": realised,
        "unrealised": pnl - realised,
        "buy_price": buy_price,
        "sell_price": sell_price,
    }


def m2m_split(legs: Legs, last_price: Decimal) -> tuple[Decimal, Decimal]:
    """(realised, unrealised) mark-to-market since the last settlement (yesterday's close)."""
    quantity = legs.quantity
    total = legs.sell_m2m - legs.buy_m2m + quantity * last_price
    if quantity > 0:
        unrealised = quantity * (last_price - _avg(legs.buy_m2m, legs.buy_quantity))
    elif quantity < 0:
        unrealised = quantity * (last_price - _avg(legs.sell_m2m, legs.sell_quantity))
    else:
        unrealised = ZERO
    return total - unrealised, unrealised


def day_cash_flow(inst: Instrument, product: str, pos, close: Decimal) -> Decimal:
    """What a position's day moves into cash at the day's end: premium and delivery flows for
    options and CNC, the day's mark-to-market for futures and intraday equity."""
    if inst.is_option or product == "CNC":
        return pos.day_sell_value - pos.day_buy_value
    legs = net_legs(pos)
    return legs.sell_m2m - legs.buy_m2m + legs.quantity * close


def blocked_margin(inst: Instrument, product: str, quantity: int, last_price: Decimal,
                   underlying_price: Decimal) -> tuple[Decimal, Decimal]:
    """(span, exposure) an open position blocks."""
    size = abs(quantity)
    if not size or product == "CNC":
        return ZERO, ZERO
    if inst.is_future:
        return SPAN_RATE * size * last_price, EXPOSURE_RATE * size * last_price
    if inst.is_option:
        if quantity > 0:
            return ZERO, ZERO
        return SPAN_RATE * size * underlying_price, EXPOSURE_RATE * size * underlying_price
    return ZERO, MIS_EQUITY_MARGIN * size * last_price


def order_margin(inst: Instrument, product: str, transaction_type: str, quantity: int, order_price: Decimal,
                 position_quantity: int, underlying_price: Decimal) -> Decimal:
    """The margin an order needs on top of what the position already blocks (0 when it reduces)."""
    signed = quantity if transaction_type == "BUY" else -quantity
    after = position_quantity + signed
    if inst.is_option:
        if transaction_type == "BUY":
            opening = quantity - min(quantity, max(0, -position_quantity))
            return opening * order_price
        opening = quantity - min(quantity, max(0, position_quantity))
        return (SPAN_RATE + EXPOSURE_RATE) * opening * underlying_price
    if product == "CNC":
        return quantity * order_price if transaction_type == "BUY" else ZERO
    growth = max(0, abs(after) - abs(position_quantity))
    rate = SPAN_RATE + EXPOSURE_RATE if inst.is_future else MIS_EQUITY_MARGIN
    return rate * growth * order_price


# --- margin calculator (POST /margins/orders, /margins/basket) -------------------------------------------

@dataclass(frozen=True)
class LegMargin:
    """One margin object's figures: what an order (or a basket) blocks, by kind."""

    span: Decimal = ZERO
    exposure: Decimal = ZERO
    option_premium: Decimal = ZERO
    var: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.span + self.exposure + self.option_premium + self.var

    def __add__(self, other: LegMargin) -> LegMargin:
        return LegMargin(self.span + other.span, self.exposure + other.exposure,
                         self.option_premium + other.option_premium, self.var + other.var)


def leg_margin(inst: Instrument, product: str, transaction_type: str, quantity: int, order_price: Decimal,
               underlying_price: Decimal) -> LegMargin:
    """What one order blocks on a flat book, by kind: the same rates as `order_margin` (a CNC buy its
    value as VAR, MIS equity 20% as VAR, futures SPAN 10% + exposure 3% of the value, a short option
    SPAN + exposure on the underlying's value, a long option its premium)."""
    if inst.is_option:
        if transaction_type == "BUY":
            return LegMargin(option_premium=quantity * order_price)
        return LegMargin(span=SPAN_RATE * quantity * underlying_price,
                         exposure=EXPOSURE_RATE * quantity * underlying_price)
    if inst.is_future:
        return LegMargin(span=SPAN_RATE * quantity * order_price, exposure=EXPOSURE_RATE * quantity * order_price)
    if product == "CNC":
        return LegMargin(var=quantity * order_price if transaction_type == "BUY" else ZERO)
    return LegMargin(var=MIS_EQUITY_MARGIN * quantity * order_price)


@dataclass(frozen=True)
class Leg:
    """A derivative position (or order) for the spread model: signed quantity, its price (premium or
    future price) and the underlying's price."""

    inst: Instrument
    quantity: int
    price: Decimal
    underlying_price: Decimal


def _take(pool: list[list], wanted: int) -> list[tuple[Decimal, int]]:
    """Take up to `wanted` units from a pool of [price-or-strike, units] (in the pool's order)."""
    taken = []
    for item in pool:
        if not wanted:
            break
        units = min(item[1], wanted)
        if units:
            item[1] -= units
            wanted -= units
            taken.append((item[0], units))
    return taken


def hedged_margin(legs: list[Leg]) -> LegMargin:
    """SPAN and exposure of F&O positions with the spread benefit, in a simple model of SPAN offsets.

    Per underlying, after netting each contract: a short call is covered first by long calls (the
    lowest strikes first), then by long futures; a short put by long puts (the highest strikes
    first), then by short futures. A short option covered by a long option blocks only the spread's
    largest loss (the strike difference, when it is a loss, at most its naked margin); one covered
    by a future blocks nothing beyond the future's own margin. Then a future is protected by long
    options left over (a long future by puts, a short one by calls): its SPAN becomes the largest
    loss down to the strike, exposure stays. Anything uncovered blocks what it blocks alone
    (`leg_margin`). Premiums are not here: the caller nets them."""
    by_token: dict[int, Leg] = {}
    for leg in legs:
        if not leg.inst.is_derivative:
            continue
        known = by_token.get(leg.inst.instrument_token)
        quantity = leg.quantity + (known.quantity if known else 0)
        by_token[leg.inst.instrument_token] = Leg(leg.inst, quantity, leg.price, leg.underlying_price)
    groups: dict[int, list[Leg]] = {}
    for leg in by_token.values():
        if leg.quantity:
            groups.setdefault(leg.inst.underlying_token, []).append(leg)
    span = exposure = ZERO
    for group in groups.values():
        long_calls = sorted(([dec(g.inst.strike), g.quantity] for g in group
                             if g.inst.instrument_type == "CE" and g.quantity > 0), key=lambda x: x[0])
        long_puts = sorted(([dec(g.inst.strike), g.quantity] for g in group
                            if g.inst.instrument_type == "PE" and g.quantity > 0), key=lambda x: -x[0])
        long_futures = [[g.price, g.quantity] for g in group if g.inst.is_future and g.quantity > 0]
        short_futures = [[g.price, -g.quantity] for g in group if g.inst.is_future and g.quantity < 0]
        for g in group:
            if not (g.inst.is_option and g.quantity < 0):
                continue
            units, strike = -g.quantity, dec(g.inst.strike)
            call = g.inst.instrument_type == "CE"
            naked = (SPAN_RATE + EXPOSURE_RATE) * g.underlying_price
            for long_strike, covered in _take(long_calls if call else long_puts, units):
                loss = max(ZERO, (long_strike - strike) if call else (strike - long_strike))
                span += min(loss, naked) * covered
                units -= covered
            units -= sum(covered for _, covered in _take(long_futures if call else short_futures, units))
            span += SPAN_RATE * units * g.underlying_price
            exposure += EXPOSURE_RATE * units * g.underlying_price
        # Futures keep their whole margin, except the SPAN of units (not already covering a short
        # option) that a long option left over protects.
        for g in group:
            if g.inst.is_future:
                units = abs(g.quantity)
                exposure += EXPOSURE_RATE * units * g.price
                span += SPAN_RATE * units * g.price
        for free, protection, is_long in ((long_futures, long_puts, True), (short_futures, long_calls, False)):
            for price, units in free:
                for strike, covered in _take(protection, units):
                    loss = max(ZERO, (price - strike) if is_long else (strike - price))
                    span -= (SPAN_RATE * price - min(loss, SPAN_RATE * price)) * covered
    return LegMargin(span=span, exposure=exposure)
