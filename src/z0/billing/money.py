"""Amounts and currencies: `Decimal` throughout, decimal strings in JSON and storage, never floats.

Facts keep exact amounts (a million requests at $0.30 is "0.30", one request "0.0000003"); an invoice
line is rounded half-up to its currency's minor unit (ISO 4217), and an invoice's total is the sum of
its lines.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

__all__ = [
    "MINOR_UNITS",
    "check_currency",
    "exact",
    "format_amount",
    "format_money",
    "parse_amount",
    "round_money",
]

# ISO 4217 active codes and their minor units; every code not listed with 0, 3 or 4 has 2.
_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS "
    "GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL "
    "MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK "
    "PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS "
    "TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
)
MINOR_UNITS: dict[str, int] = {
    **{code: 2 for code in _TWO.split()},
    **{code: 0 for code in _ZERO.split()},
    **{code: 3 for code in _THREE.split()},
    **{code: 4 for code in _FOUR.split()},
}

# Wide enough that no sum or product of stored amounts is ever rounded by the arithmetic itself.
_EXACT = Context(prec=60)
_AMOUNT = re.compile(r"^-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,18})?$")


def check_currency(code: str) -> str:
    if code not in MINOR_UNITS:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code (like 'USD' or 'EUR')")
    return code


def parse_amount(value: object) -> Decimal:
    """A decimal string like "12.50": up to 21 digits before the point and 18 after; no floats (they
    cannot hold most amounts exactly), no exponents, no NaN or infinity."""
    if not isinstance(value, str) or not _AMOUNT.match(value):
        raise ValueError(f'an amount is a decimal string like "12.50" (up to 18 decimals), not {value!r}')
    return Decimal(value)


def exact() -> AbstractContextManager[Context]:
    """Arithmetic on amounts: `with exact(): …`."""
    return localcontext(_EXACT)


def format_amount(amount: Decimal) -> str:
    """An exact amount as a plain decimal string ("0.0000003", "12.5", "-3"): no exponent."""
    with localcontext(_EXACT):
        text = format(amount.normalize(), "f")
    return "0" if text in ("-0", "") else text


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-up (away from zero on a tie) to the currency's minor unit."""
    quantum = Decimal(1).scaleb(-MINOR_UNITS[check_currency(currency)])
    with localcontext(_EXACT):
        return amount.quantize(quantum, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str) -> str:
    """Rounded to the minor unit and written with all its places: "12.50", "1000" (JPY), "1.250" (BHD)."""
    rounded = round_money(amount, currency)
    return format(abs(rounded) if rounded.is_zero() else rounded, "f")
