"""Standard contracts: an organisation's order for an approved cloud partner, and its life as a state machine.

A :class:`Contract` is one order (partner, EU region, stage, bundles and sizes, expected use, budget, period); its
``state`` is one enum field, never a set of flags. Every change of state is a :class:`ContractTransition` row (who,
when, why) and a register entry; :data:`TRANSITIONS` is the one table of what may follow what
(``services/contracts.py`` applies it and decides who may). ``provisioner`` names the plug point that will create
the contract's environment (``local`` or ``gitops``); ``environment_id`` is the environment it made.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, LargeBinary, Numeric, String, Text, select
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from .base import Base, UTCDateTime, enum_column, one_of, rank_of, utcnow
from .environment import Environment, EnvironmentStage
from .organisation import Organisation, User


class ContractState(StrEnum):
    DRAFT = "draft"
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


#: The contract states in which an organisation works under contracts, best first: its current contract is the first
#: of these, among equals the newest (``services/environments.current_contract``).
WORKING_STATES = (ContractState.ACTIVE, ContractState.SUSPENDED, ContractState.PROVISIONING, ContractState.APPROVED,
                  ContractState.REQUESTED, ContractState.ENDED)


class ProvisioningStatus(StrEnum):
    """Where the provisioner is with an approved contract: ``pending`` (an attempt is due), ``running`` (one is
    under way; taken by one worker), ``failed`` (the last attempt failed; retried at ``provisioning_next_at``, or at
    once by an admin's "retry"), ``waiting`` (handed to CI, waiting for the deploy's activation), ``done``."""

    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"
    WAITING = "waiting"
    DONE = "done"


S = ContractState
#: What may follow what. ``rejected`` and ``ended`` are final. ``provisioning`` stays put while provisioning
#: fails (a retry is no transition); ``suspended`` (budget spent) returns to ``active`` when the budget is raised.
TRANSITIONS: dict[ContractState, frozenset[ContractState]] = {
    S.DRAFT: frozenset({S.REQUESTED}),
    S.REQUESTED: frozenset({S.APPROVED, S.REJECTED}),
    S.APPROVED: frozenset({S.PROVISIONING, S.ENDED}),
    S.PROVISIONING: frozenset({S.ACTIVE, S.ENDED}),
    S.ACTIVE: frozenset({S.SUSPENDED, S.ENDED}),
    S.SUSPENDED: frozenset({S.ACTIVE, S.ENDED}),
    S.REJECTED: frozenset(),
    S.ENDED: frozenset(),
}
#: States in which a contract holds its partner, stage and period for its organisation (no second one overlaps).
HOLDING = frozenset({S.REQUESTED, S.APPROVED, S.PROVISIONING, S.ACTIVE, S.SUSPENDED})


class Contract(Base):
    __tablename__ = "contract"
    __table_args__ = (Index("ix_contract_organisation_id_partner_stage", "organisation_id", "partner", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), doc="the ordering organisation")
    state: Mapped[ContractState] = mapped_column(enum_column(ContractState, "contract_state"), index=True)
    partner: Mapped[str] = mapped_column(String(64), doc="catalogue partner id")
    region: Mapped[str] = mapped_column(String(64), doc="the partner's EU region id")
    stage: Mapped[EnvironmentStage] = mapped_column(enum_column(EnvironmentStage, "contract_stage"))
    provisioner: Mapped[str] = mapped_column(String(32), default="local", doc="local or gitops (a later issue)")
    roles: Mapped[list[str]] = mapped_column(JSON, default=list, doc="catalogue role ids")
    bundles: Mapped[list[str]] = mapped_column(JSON, default=list, doc="catalogue bundle ids")
    sizes: Mapped[list[str]] = mapped_column(JSON, default=list, doc="allowed sizes as 'bundle/size'")
    expected_users: Mapped[int] = mapped_column(Integer)
    hours_per_week: Mapped[Decimal] = mapped_column(Numeric(6, 2), doc="per user")
    budget_eur: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date, doc="the last day of the contract")
    contact: Mapped[str] = mapped_column(String(200))
    cost_centre: Mapped[str] = mapped_column(String(64))
    estimate: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, doc="the price estimate as ordered")
    environment_id: Mapped[int | None] = mapped_column(ForeignKey("environment.id"), doc="made by provisioning")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    # -- provisioning (migration 0009): the provisioner's progress, retried with back-off until it succeeds
    provisioning_status: Mapped[ProvisioningStatus | None] = mapped_column(
        enum_column(ProvisioningStatus, "contract_provisioning_status"), doc="NULL until approved")
    provisioning_attempts: Mapped[int] = mapped_column(Integer, default=0)
    provisioning_error: Mapped[str | None] = mapped_column(Text, doc="the last attempt's error, for admins")
    provisioning_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), doc="when the next attempt is due")
    provisioning_detail: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, doc="what the provisioner made so far (environment name, stack file, branch, pull request URL, ...)")
    callback_token_hash: Mapped[str | None] = mapped_column(
        String(64), doc="sha256 of the token CI's deploy job uses to mark this contract active (gitops)")
    # -- spend (migration 0009)
    budget_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), doc="when the 80 % warning went out")
    closed_spend_eur: Mapped[Decimal] = mapped_column(
        Numeric(18, 6), default=0, server_default="0",
        doc="euros of the contract's CLOSED runs, added in SQL by metering.meter in the transaction that closes one "
            "(spend = this + the open runs up to now; metering.verify_rollup checks it against the sessions)")
    # -- the contract document (migration 0009), made from the partner's template with the order's details
    document_html: Mapped[str | None] = mapped_column(Text)
    document_pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    document_made_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    created_by: Mapped[User] = relationship(lazy="joined")
    environment: Mapped[Environment | None] = relationship(foreign_keys=[environment_id])
    transitions: Mapped[list["ContractTransition"]] = relationship(
        back_populates="contract", cascade="all, delete-orphan", order_by="ContractTransition.id")

    def may_become(self, state: ContractState) -> bool:
        return state in TRANSITIONS[self.state]


class ContractTransition(Base):
    """One change of a contract's state: from what to what, by whom (NULL: the portal itself), when and why."""

    __tablename__ = "contract_transition"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[ContractState | None] = mapped_column(enum_column(ContractState, "contract_from_state"))
    to_state: Mapped[ContractState] = mapped_column(enum_column(ContractState, "contract_to_state"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)

    contract: Mapped[Contract] = relationship(back_populates="transitions")
    actor: Mapped[User | None] = relationship(lazy="joined")


#: The id of the contract an organisation works under now (the rule of :data:`WORKING_STATES`), or None: deferred, so
#: it is read only where asked for — with the request's user (``services/identity.request_user_options``), so that a
#: catalogue read learns the member's offer in its one query (issue 13). Read each request, never cached.
Organisation.current_contract_id = column_property(
    select(Contract.id).where(Contract.organisation_id == Organisation.id, one_of(Contract.state, WORKING_STATES))
    .order_by(rank_of(Contract.state, WORKING_STATES),
              Contract.id.desc())
    .limit(1).correlate_except(Contract).scalar_subquery(), deferred=True)
