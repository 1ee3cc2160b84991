"""The NHN side: the Tjenestebuss wire profile and the NhnTransport interface."""

from kpr_gateway.nhn.amqp import AmqpDelivery, AmqpNhnTransport
from kpr_gateway.nhn.errors import NhnError, NhnSendError, NhnWireError
from kpr_gateway.nhn.memory import DeadLetter, InMemoryNhnBroker, InMemoryNhnTransport
from kpr_gateway.nhn.transport import NhnDelivery, NhnHandler, NhnTransport
from kpr_gateway.nhn.wire import (
    APPREC_SUBJECT,
    CMS_CONTENT_TYPE,
    NhnMessage,
    TransportError,
    new_message,
    read_transport_error,
    transport_error_message,
)

__all__ = [
    "APPREC_SUBJECT",
    "CMS_CONTENT_TYPE",
    "AmqpDelivery",
    "AmqpNhnTransport",
    "DeadLetter",
    "InMemoryNhnBroker",
    "InMemoryNhnTransport",
    "NhnDelivery",
    "NhnError",
    "NhnHandler",
    "NhnMessage",
    "NhnSendError",
    "NhnTransport",
    "NhnWireError",
    "TransportError",
    "new_message",
    "read_transport_error",
    "transport_error_message",
]
