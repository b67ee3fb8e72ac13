"""The shipped instrument universe: NIFTY 50 stocks (listed on NSE and BSE) and the main indices.

Each stock: NSE symbol, company name, ISIN, NSE exchange token, BSE scrip code, base price (a
realistic price level the deterministic walk wanders around). Derivatives are not listed here:
they are generated from the sandbox clock (see `sandbox.universe`).
"""
from __future__ import annotations

NIFTY50: tuple[tuple[str, str, str, int, int, float], ...] = (
    ("ADANIENT", "ADANI ENTERPRISES", "INE423A01024", 25, 512599, 2400.0),
    ("ADANIPORTS", "ADANI PORT & SEZ", "INE742F01042", 15083, 532921, 1400.0),
    ("APOLLOHOSP", "APOLLO HOSPITALS", "INE437A01024", 157, 508869, 7000.0),
    ("ASIANPAINT", "ASIAN PAINTS", "INE021A01026", 236, 500820, 2400.0),
    ("AXISBANK", "AXIS BANK", "INE238A01034", 5900, 532215, 1150.0),
    ("BAJAJ-AUTO", "BAJAJ AUTO", "INE917I01010", 16669, 532977, 8500.0),
    ("BAJAJFINSV", "BAJAJ FINSERV", "INE918I01026", 16675, 532978, 2000.0),
    ("BAJFINANCE", "BAJAJ FINANCE", "INE296A01032", 317, 500034, 900.0),
    ("BEL", "BHARAT ELECTRONICS", "INE263A01024", 383, 500049, 400.0),
    ("BHARTIARTL", "BHARTI AIRTEL", "INE397D01024", 10604, 532454, 1900.0),
    ("CIPLA", "CIPLA", "INE059A01026", 694, 500087, 1500.0),
    ("COALINDIA", "COAL INDIA", "INE522F01014", 20374, 533278, 390.0),
    ("DRREDDY", "DR. REDDY'S LABORATORIES", "INE089A01031", 881, 500124, 1250.0),
    ("EICHERMOT", "EICHER MOTORS", "INE066A01021", 910, 505200, 5600.0),
    ("ETERNAL", "ETERNAL", "INE758T01015", 5097, 543320, 300.0),
    ("GRASIM", "GRASIM INDUSTRIES", "INE047A01021", 1232, 500300, 2750.0),
    ("HCLTECH", "HCL TECHNOLOGIES", "INE860A01027", 7229, 532281, 1500.0),
    ("HDFCBANK", "HDFC BANK", "INE040A01034", 1333, 500180, 1950.0),
    ("HDFCLIFE", "HDFC LIFE INSURANCE COMPANY", "INE795G01014", 467, 540777, 750.0),
    ("HEROMOTOCO", "HERO MOTOCORP", "INE158A01026", 1348, 500182, 4500.0),
    ("HINDALCO", "HINDALCO INDUSTRIES", "INE038A01020", 1363, 500440, 700.0),
    ("HINDUNILVR", "HINDUSTAN UNILEVER", "INE030A01027", 1394, 500696, 2400.0),
    ("ICICIBANK", "ICICI BANK", "INE090A01021", 4963, 532174, 1400.0),
    ("INDUSINDBK", "INDUSIND BANK", "INE095A01012", 5258, 532187, 800.0),
    ("INFY", "INFOSYS", "INE009A01021", 1594, 500209, 1550.0),
    ("ITC", "ITC", "INE154A01025", 1660, 500875, 415.0),
    ("JIOFIN", "JIO FINANCIAL SERVICES", "INE758E01017", 18143, 543940, 310.0),
    ("JSWSTEEL", "JSW STEEL", "INE019A01038", 11723, 500228, 1050.0),
    ("KOTAKBANK", "KOTAK MAHINDRA BANK", "INE237A01028", 1922, 500247, 2100.0),
    ("LT", "LARSEN & TOUBRO", "INE018A01030", 11483, 500510, 3600.0),
    ("M&M", "MAHINDRA & MAHINDRA", "INE101A01026", 2031, 500520, 3200.0),
    ("MARUTI", "MARUTI SUZUKI INDIA", "INE585B01010", 10999, 532500, 12500.0),
    ("NESTLEIND", "NESTLE INDIA", "INE239A01024", 17963, 500790, 2400.0),
    ("NTPC", "NTPC", "INE733E01010", 11630, 532555, 340.0),
    ("ONGC", "OIL AND NATURAL GAS CORP.", "INE213A01029", 2475, 500312, 240.0),
    ("POWERGRID", "POWER GRID CORP. OF INDIA", "INE752E01010", 14977, 532898, 300.0),
    ("RELIANCE", "RELIANCE INDUSTRIES", "INE002A01018", 2885, 500325, 1400.0),
    ("SBILIFE", "SBI LIFE INSURANCE COMPANY", "INE123W01016", 21808, 540719, 1800.0),
    ("SBIN", "STATE BANK OF INDIA", "INE062A01020", 3045, 500112, 800.0),
    ("SHRIRAMFIN", "SHRIRAM FINANCE", "INE721A01047", 4306, 511218, 650.0),
    ("SUNPHARMA", "SUN PHARMACEUTICAL IND.", "INE044A01036", 3351, 524715, 1650.0),
    ("TATACONSUM", "TATA CONSUMER PRODUCTS", "INE192A01025", 3432, 500800, 1100.0),
    ("TATAMOTORS", "TATA MOTORS", "INE155A01022", 3456, 500570, 700.0),
    ("TATASTEEL", "TATA STEEL", "INE081A01020", 3499, 500470, 160.0),
    ("TCS", "TATA CONSULTANCY SERVICES", "INE467B01029", 11536, 532540, 3200.0),
    ("TECHM", "TECH MAHINDRA", "INE669C01036", 13538, 532755, 1550.0),
    ("TITAN", "TITAN COMPANY", "INE280A01028", 3506, 500114, 3500.0),
    ("TRENT", "TRENT", "INE849A01020", 1964, 500251, 5200.0),
    ("ULTRACEMCO", "ULTRATECH CEMENT", "INE481G01011", 11532, 532538, 12000.0),
    ("WIPRO", "WIPRO", "INE075A01022", 3787, 507685, 250.0),
)

# (exchange, tradingsymbol, exchange_token, instrument_token, base price, F&O underlying name or "")
INDICES: tuple[tuple[str, str, int, int, float, str], ...] = (
    ("NSE", "NIFTY 50", 1001, 256265, 24500.0, "NIFTY"),
    ("NSE", "NIFTY BANK", 1016, 260105, 52000.0, "BANKNIFTY"),
    ("BSE", "SENSEX", 1, 265, 80500.0, ""),
)

# F&O underlyings: name -> (index tradingsymbol, lot size, strike spacing, weekly options too)
# NIFTY has weekly and monthly option series; BANKNIFTY monthly only (as on NSE since 2024).
FNO_UNDERLYINGS: dict[str, tuple[str, int, int, bool]] = {
    "NIFTY": ("NIFTY 50", 75, 500, True),
    "BANKNIFTY": ("NIFTY BANK", 35, 1000, False),
}

# NSE's quantity freeze limits for index derivatives (units per order; a larger order is rejected by
# the exchange, so Kite's autoslice splits it). Source: NSE circular of 31 October 2025, effective
# 3 November 2025 (NIFTY 1800, BANKNIFTY 600). Stocks have no freeze quantity in the sandbox.
FREEZE_QUANTITIES: dict[str, int] = {"NIFTY": 1800, "BANKNIFTY": 600}

# A newcomer's portfolio: (exchange, tradingsymbol, quantity), bought at past prices.
DEFAULT_HOLDINGS: tuple[tuple[str, str, int], ...] = (
    ("NSE", "INFY", 10),
    ("NSE", "RELIANCE", 12),
    ("NSE", "HDFCBANK", 8),
    ("NSE", "TCS", 4),
    ("NSE", "ITC", 60),
    ("BSE", "SBIN", 20),
)
DEFAULT_STARTING_CASH = 1_000_000
