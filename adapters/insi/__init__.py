"""The INSi teleservice adapter (SOAP 1.2 per the CNAM WSDL 1.5.0): ``SoapInsiGateway``."""

from adapters.insi.gateway import MAX_RESPONSE_BYTES, InsiAuth, SoapInsiGateway
from adapters.insi.messages import InsiSoftware

__all__ = ["MAX_RESPONSE_BYTES", "InsiAuth", "InsiSoftware", "SoapInsiGateway"]
