"""How a streaming workspace reaches its environment's Kafka: one rule for infra (which creates it) and the hub
(which mounts it into the workspaces of streaming bundles). Issue 16, item 11.

Infra creates, in the hub's namespace, a ``KafkaUser`` for the environment (mutual TLS; the User Operator writes
its certificate and key into a Secret of the same name) and a copy of the Kafka cluster's CA certificate, and tells
the hub where they are (the hub setting ``GEREEDSCHAPSKIST_HUB_KAFKA``, :meth:`KafkaAccess.as_json`). The hub adds
both Secrets read-only to every workspace of a bundle with the ``streaming`` role, and environment variables that
Kafka clients read (``KAFKA_BOOTSTRAP_SERVERS``, ``KAFKA_SECURITY_PROTOCOL=SSL`` and the three ``KAFKA_SSL_*``
locations, named as librdkafka / confluent-kafka's ``ssl.*.location`` settings).

In the embedded default (``make up``) the same ``KAFKA_BOOTSTRAP_SERVERS`` names the local broker, with
``KAFKA_SECURITY_PROTOCOL=PLAINTEXT`` (:func:`local_environment`, issue 17).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

STREAMING_ROLE = "streaming"
MOUNT = "/etc/gereedschapskist/kafka"
CA_FILE = "ca.crt"                 # key of the cluster CA Secret (Strimzi's <cluster>-cluster-ca-cert has it too)
USER_CERT_FILE = "user.crt"        # keys of the Secret the User Operator writes for a TLS KafkaUser
USER_KEY_FILE = "user.key"
VOLUME_CA = "kafka-cluster-ca"
VOLUME_USER = "kafka-user"


@dataclass(frozen=True, slots=True)
class KafkaAccess:
    """Where a workspace finds the environment's Kafka and its credentials (Secrets in the hub's namespace)."""

    bootstrap: str          # host:port of the TLS listener
    ca_secret: str          # a Secret with ca.crt: the cluster CA that signed the brokers' certificates
    user_secret: str        # a Secret with user.crt and user.key: the environment's KafkaUser

    def as_json(self) -> dict[str, str]:
        return {"bootstrap": self.bootstrap, "ca_secret": self.ca_secret, "user_secret": self.user_secret}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "KafkaAccess":
        """The shape of :meth:`as_json`; ``ValueError`` naming the field otherwise."""
        missing = [k for k in ("bootstrap", "ca_secret", "user_secret") if not isinstance(data.get(k), str)
                   or not data.get(k)]
        if missing:
            raise ValueError(f"Kafka access needs {', '.join(missing)} (strings), not {dict(data)!r}")
        if ":" not in data["bootstrap"]:
            raise ValueError(f"Kafka bootstrap must be host:port, not {data['bootstrap']!r}")
        return cls(data["bootstrap"], data["ca_secret"], data["user_secret"])

    def environment(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SSL_CA_LOCATION": f"{MOUNT}/ca/{CA_FILE}",
            "KAFKA_SSL_CERTIFICATE_LOCATION": f"{MOUNT}/user/{USER_CERT_FILE}",
            "KAFKA_SSL_KEY_LOCATION": f"{MOUNT}/user/{USER_KEY_FILE}",
        }

    def volumes(self) -> list[dict[str, Any]]:
        """Pod volumes (Kubernetes' camelCase): only the files a client needs, read-only for the user."""
        return [
            {"name": VOLUME_CA, "secret": {"secretName": self.ca_secret, "defaultMode": 0o444,
                                           "items": [{"key": CA_FILE, "path": CA_FILE}]}},
            {"name": VOLUME_USER, "secret": {"secretName": self.user_secret, "defaultMode": 0o440,
                                             "items": [{"key": USER_CERT_FILE, "path": USER_CERT_FILE},
                                                       {"key": USER_KEY_FILE, "path": USER_KEY_FILE}]}},
        ]

    def volume_mounts(self) -> list[dict[str, Any]]:
        return [{"name": VOLUME_CA, "mountPath": f"{MOUNT}/ca", "readOnly": True},
                {"name": VOLUME_USER, "mountPath": f"{MOUNT}/user", "readOnly": True}]


def local_environment(bootstrap: str) -> dict[str, str]:
    """The variables of a streaming workspace in the embedded default (``make up``, issue 17): the same names as
    in the cloud, for the local broker (:mod:`gereedschapskist.dev.kafka`), which speaks PLAINTEXT on 127.0.0.1
    (no TLS, so no ``KAFKA_SSL_*``)."""
    if ":" not in bootstrap:
        raise ValueError(f"Kafka bootstrap must be host:port, not {bootstrap!r}")
    return {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}


def streams(roles: tuple[str, ...] | list[str]) -> bool:
    """Whether a bundle with these roles gets Kafka access (the streaming role)."""
    return STREAMING_ROLE in roles
