"""The one price rule: what one hour of a bundle's size costs at a partner.

Used by everything that puts a euro amount on a workspace: the contract estimate, spend metering and the
right-sizing advice (``catalogue-of-tools/README.md``, "Prices"):

1. **Explicit**: the partner file lists a price for this bundle and size (``size_prices``) → that price.
2. **Derived**: otherwise the size's share of the cheapest machine of the partner it fits on
   (:meth:`Partner.machine_for`): the machine's price per hour × the largest of the size's CPU share, memory share
   and (for GPU sizes) GPU share of that machine.
3. A size that fits none of the partner's machines has **no price** there: it cannot be offered at that partner.

``catalogue check`` verifies the rule's inputs (:mod:`.rules`, ``_prices``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import MachineSize, Partner, Size, memory_bytes

#: An explicit price outside [derived / FAR, derived × FAR] is reported by ``catalogue check`` (a warning: a
#: negotiated price may differ, but a factor of two or more is usually a typo or a price for another size).
FAR = 2.0


@dataclass(frozen=True, slots=True)
class SizePrice:
    """The price per hour of one bundle size at one partner, and where it comes from."""

    eur_per_hour: float
    machine: MachineSize            # the machine it runs on (the cheapest it fits on)
    share: float                    # its share of that machine (0–1]
    explicit: bool                  # True: from the partner's size_prices

    @property
    def derived_eur_per_hour(self) -> float:
        return self.machine.price_per_hour_eur * self.share


def machine_share(size: Size, machine: MachineSize) -> float:
    """The largest of the size's CPU, memory and GPU shares of ``machine`` (it fits, so at most 1)."""
    shares = [size.cpu / machine.cpu, size.memory_bytes / memory_bytes(machine.memory)]
    if size.gpu:
        shares.append(size.gpu / machine.gpu)
    return max(shares)


def price_per_hour(partner: Partner, bundle_id: str, size: Size) -> SizePrice | None:
    """The price rule of this module's documentation; None when the size fits no machine of ``partner``."""
    machine = partner.machine_for(size)
    if machine is None:
        return None
    share = machine_share(size, machine)
    explicit = partner.explicit_price(bundle_id, size.id)
    if explicit is not None:
        return SizePrice(explicit, machine, share, True)
    return SizePrice(machine.price_per_hour_eur * share, machine, share, False)
