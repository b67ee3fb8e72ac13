"""Zerodha's brokerage and statutory charges on one executed order: pure, in Decimal, no database.

What `POST /charges/orders` (the virtual contract note) and every margin object's `charges` show,
and what a paper fill takes from cash, so the paper P&L is the one Zerodha would show.

Source: Zerodha's charges list (zerodha.com/charges, as mirrored by tradesee.in and ipobell.com,
read 2026-11) for brokerage, exchange transaction charges (NSE/BSE rates of 1 October 2024), SEBI
fees, stamp duty and GST; STT on futures and options as raised by the Finance Act 2026 for trades
from 1 April 2026 (futures 0.02% -> 0.05%, options premium 0.1% -> 0.15%; cleartax.in "Securities
Transaction Tax", Budget 2026 update). MCX rates are Zerodha's commodity column (non-agri). Each
charge is exact (no rounding), as Kite's API answers; a fill debits the total to the paisa.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

ZERO = Decimal("0")
PCT = Decimal("0.01")
BROKERAGE_RATE = Decimal("0.03") * PCT  # 0.03% ...
BROKERAGE_CAP = Decimal("20")  # ... or ₹20 per executed order, whichever is lower
FLAT_BROKERAGE = Decimal("20")  # options: flat ₹20 per executed order
SEBI_RATE = Decimal("10") / Decimal("10000000")  # ₹10 per crore of turnover
GST_RATE = Decimal("0.18")  # on brokerage + exchange transaction charges + SEBI fees

EQUITY_DELIVERY, EQUITY_INTRADAY = "equity_delivery", "equity_intraday"
FUTURES, OPTIONS = "futures", "options"
CURRENCY_FUTURES, CURRENCY_OPTIONS = "currency_futures", "currency_options"
COMMODITY_FUTURES, COMMODITY_OPTIONS = "commodity_futures", "commodity_options"


@dataclass(frozen=True)
class Schedule:
    """One column of Zerodha's charges list."""

    brokerage: str  # "zero", "capped" (0.03% or ₹20) or "flat" (₹20)
    tax_type: str  # "stt", "ctt" or "" (currency: no transaction tax)
    tax_buy: Decimal
    tax_sell: Decimal
    exchange_rates: dict[str, Decimal] = field(default_factory=dict)  # per exchange, of turnover
    stamp_buy: Decimal = ZERO


def _pct(text: str) -> Decimal:
    return Decimal(text) * PCT


SCHEDULES: dict[str, Schedule] = {
    EQUITY_DELIVERY: Schedule("zero", "stt", _pct("0.1"), _pct("0.1"),
                              {"NSE": _pct("0.00297"), "BSE": _pct("0.00375")}, _pct("0.015")),
    EQUITY_INTRADAY: Schedule("capped", "stt", ZERO, _pct("0.025"),
                              {"NSE": _pct("0.00297"), "BSE": _pct("0.00375")}, _pct("0.003")),
    FUTURES: Schedule("capped", "stt", ZERO, _pct("0.05"), {"NFO": _pct("0.00173"), "BFO": ZERO}, _pct("0.002")),
    # Options: STT and transaction charges on the premium (quantity x price), which is their turnover.
    OPTIONS: Schedule("flat", "stt", ZERO, _pct("0.15"), {"NFO": _pct("0.03503"), "BFO": _pct("0.0325")},
                      _pct("0.003")),
    CURRENCY_FUTURES: Schedule("capped", "", ZERO, ZERO, {"CDS": _pct("0.00035"), "BCD": _pct("0.00045")},
                               _pct("0.0001")),
    CURRENCY_OPTIONS: Schedule("flat", "", ZERO, ZERO, {"CDS": _pct("0.0311"), "BCD": _pct("0.001")},
                               _pct("0.0001")),
    COMMODITY_FUTURES: Schedule("capped", "ctt", ZERO, _pct("0.01"), {"MCX": _pct("0.0021")}, _pct("0.002")),
    COMMODITY_OPTIONS: Schedule("flat", "ctt", ZERO, _pct("0.05"), {"MCX": _pct("0.0418")}, _pct("0.003")),
}


def segment_for(*, exchange: str, instrument_type: str, product: str) -> str:
    """Which column of the charges list an order falls in. Equity: CNC (and MTF) is delivery,
    anything else intraday. `instrument_type` is EQ, FUT, CE or PE."""
    option = instrument_type in ("CE", "PE")
    if exchange in ("CDS", "BCD"):
        return CURRENCY_OPTIONS if option else CURRENCY_FUTURES
    if exchange == "MCX":
        return COMMODITY_OPTIONS if option else COMMODITY_FUTURES
    if exchange in ("NFO", "BFO"):
        return OPTIONS if option else FUTURES
    return EQUITY_DELIVERY if product in ("CNC", "MTF") else EQUITY_INTRADAY


def instrument_type_of(exchange: str, tradingsymbol: str) -> str:
    """An instrument's type from its symbol, for instruments the sandbox does not list (charges need
    only the segment): derivatives end in FUT, CE or PE; a cash-market symbol is always EQ."""
    if exchange in ("NSE", "BSE"):
        return "EQ"
    for suffix in ("FUT", "CE", "PE"):
        if tradingsymbol.upper().endswith(suffix):
            return suffix
    return "FUT"


@dataclass(frozen=True)
class Charges:
    transaction_tax: Decimal
    transaction_tax_type: str
    exchange_turnover_charge: Decimal
    sebi_turnover_charge: Decimal
    brokerage: Decimal
    stamp_duty: Decimal

    @property
    def gst(self) -> Decimal:
        return GST_RATE * (self.brokerage + self.exchange_turnover_charge + self.sebi_turnover_charge)

    @property
    def total(self) -> Decimal:
        return (self.transaction_tax + self.exchange_turnover_charge + self.sebi_turnover_charge + self.brokerage
                + self.stamp_duty + self.gst)

    @property
    def debit(self) -> Decimal:
        """What leaves the cash: the total to the paisa."""
        return self.total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def __add__(self, other: Charges) -> Charges:
        tax_type = self.transaction_tax_type if self.transaction_tax_type == other.transaction_tax_type else ""
        return Charges(self.transaction_tax + other.transaction_tax, tax_type,
                       self.exchange_turnover_charge + other.exchange_turnover_charge,
                       self.sebi_turnover_charge + other.sebi_turnover_charge, self.brokerage + other.brokerage,
                       self.stamp_duty + other.stamp_duty)


NO_CHARGES = Charges(ZERO, "", ZERO, ZERO, ZERO, ZERO)


def order_charges(*, segment: str, exchange: str, transaction_type: str, quantity: int,
                  price: Decimal) -> Charges:
    """The charges of one executed order of `quantity` at `price` (turnover = quantity x price)."""
    schedule = SCHEDULES[segment]
    turnover = Decimal(quantity) * price
    buy = transaction_type == "BUY"
    if schedule.brokerage == "zero":
        brokerage = ZERO
    elif schedule.brokerage == "flat":
        brokerage = FLAT_BROKERAGE
    else:
        brokerage = min(BROKERAGE_CAP, BROKERAGE_RATE * turnover)
    return Charges(
        transaction_tax=turnover * (schedule.tax_buy if buy else schedule.tax_sell),
        transaction_tax_type=schedule.tax_type,
        exchange_turnover_charge=turnover * schedule.exchange_rates.get(exchange, ZERO),
        sebi_turnover_charge=turnover * SEBI_RATE,
        brokerage=brokerage,
        stamp_duty=turnover * schedule.stamp_buy if buy else ZERO,
    )


def _number(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def charges_payload(charges: Charges) -> dict[str, Any]:
    """Kite's `charges` object (exact figures, as the API sends them)."""
    gst = charges.gst
    return {
        "transaction_tax": _number(charges.transaction_tax),
        "transaction_tax_type": charges.transaction_tax_type,
        "exchange_turnover_charge": _number(charges.exchange_turnover_charge),
        "sebi_turnover_charge": _number(charges.sebi_turnover_charge),
        "brokerage": _number(charges.brokerage),
        "stamp_duty": _number(charges.stamp_duty),
        "gst": {"igst": _number(gst), "cgst": 0, "sgst": 0, "total": _number(gst)},
        "total": _number(charges.total),
    }
