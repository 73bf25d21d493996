"""The ISO 4217 currency codes: a code an ERP names is one of these before the gateway answers
with it (the API's `currency` is an ISO 4217 code, and a client trusts it to be).

Not their minor units (see `gateway.adapters.prices`) nor what each ERP is set up with.
"""

from __future__ import annotations

# ISO 4217 list one (current codes, funds and precious metals included), and the codes withdrawn
# since 2018 that documents of those years still carry (HRK, SLL, ZWL...). Not XTS (testing)
# nor XXX (no currency): no document is priced in them.
_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR
    ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD
    MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR
    PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL
    THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF
    XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL
"""
ISO_4217 = frozenset(_CODES.split())


def iso_currency(code: object) -> str | None:
    """`code` if it is an ISO 4217 currency code (exactly, in capitals), else None."""
    return code if isinstance(code, str) and code in ISO_4217 else None
