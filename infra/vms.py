"""Certified virtual machines (supply model c): a VM an environment includes and its users manage themselves.

Every cloud builds one the same way (``Recipe.vm`` in :mod:`.partners`): Canonical's Ubuntu 24.04 LTS image, the
same pinned image the runner uses; no public address, reached only through the cloud's own access path (SSM Session
Manager, ``az vm run-command``, IAP TCP forwarding); the system disk encrypted with the environment's own key;
automatic security updates (cloud-init: unattended-upgrades); the environment's tags; a machine size of the partner
(catalogue); and an end date: from 23:59 Europe/Amsterdam on ``ends_on`` the cloud's own scheduler stops it, and
stops it again every day after, so a VM restarted after its end does not keep running.

This module is pure data (no resources): the plan resolves sizes here before anything is registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gereedschapskist.catalogue import MachineSize, Partner

from .config import CLOUD_KEY, CloudSpec
from .errors import NO_MACHINE, StackInvalid

#: The stop time on the end date, and its zone (the contract's, Dutch, time).
STOP_TIME = "23:59"
STOP_TIMEZONE = "Europe/Amsterdam"
#: Automatic security updates and nothing else: users install what they need themselves (supply model c).
VM_CLOUD_INIT = """#cloud-config
ssh_pwauth: false
disable_root: true
package_update: true
package_upgrade: true
packages: [unattended-upgrades, apt-listchanges]
write_files:
  - path: /etc/apt/apt.conf.d/20auto-upgrades
    content: |
      APT::Periodic::Update-Package-Lists "1";
      APT::Periodic::Unattended-Upgrade "1";
  - path: /etc/apt/apt.conf.d/52gereedschapskist-reboot
    content: |
      Unattended-Upgrade::Automatic-Reboot "true";
      Unattended-Upgrade::Automatic-Reboot-Time "03:30";
runcmd:
  - systemctl enable --now unattended-upgrades
"""


@dataclass(frozen=True)
class VmPlan:
    name: str
    machine: MachineSize
    ends_on: date
    disk_gib: int

    @property
    def stop_at(self) -> str:
        """The first stop, local time in :data:`STOP_TIMEZONE`, as ``YYYY-MM-DDTHH:MM:SS``."""
        return f"{self.ends_on.isoformat()}T{STOP_TIME}:00"


@dataclass(frozen=True)
class Vm:
    """What the cloud stage exports of one VM: its id, how to reach it, and when it stops."""

    name: object
    access: str
    stops: str


def plan_vms(cloud: CloudSpec, partner: Partner, source: str) -> tuple[VmPlan, ...]:
    """Each VM's machine size from the partner's catalogue, or StackInvalid naming field and value."""
    problems, vms = [], []
    for i, vm in enumerate(cloud.vms):
        machine = next((m for m in partner.machine_sizes if m.id == vm.size), None)
        if machine is None:
            sizes = ", ".join(m.id for m in partner.machine_sizes)
            problems.append(f"{source}: config.{CLOUD_KEY}.vms[{i}].size = {vm.size!r}: partner {partner.id!r} has no "
                            f"such machine size; it has {sizes}")
            continue
        vms.append(VmPlan(name=vm.name, machine=machine, ends_on=vm.ends_on, disk_gib=vm.disk_gib))
    if problems:
        raise StackInvalid(NO_MACHINE, problems)
    return tuple(vms)
