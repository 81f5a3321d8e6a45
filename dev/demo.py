"""The demo accounts of the development OpenID Connect provider, read from their one data file.

``dev/oidc-provider/demo-accounts.json`` is read by the provider (Node) and by this module
(``make up`` prints it, the tests log in with it). Development only: the passwords are public.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gereedschapskist.core.groups import organisations_of, roles_of

ACCOUNTS_FILE = Path(__file__).resolve().parent / "oidc-provider" / "demo-accounts.json"


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    password: str
    name: str
    email: str
    groups: tuple[str, ...]
    summary_nl: str
    summary_en: str

    @property
    def roles(self) -> list[str]:
        return roles_of(self.groups)

    @property
    def organisations(self) -> list[str]:
        return organisations_of(self.groups)


def load_accounts(path: Path = ACCOUNTS_FILE) -> dict[str, DemoAccount]:
    data = json.loads(path.read_text(encoding="utf-8"))
    accounts = {}
    for item in data["accounts"]:
        summary = item.get("summary", {})
        accounts[item["username"]] = DemoAccount(
            username=item["username"], password=item["password"], name=item["name"], email=item["email"],
            groups=tuple(item["groups"]), summary_nl=summary.get("nl", ""), summary_en=summary.get("en", ""))
    return accounts


def format_accounts(accounts: dict[str, DemoAccount]) -> str:
    """A table for people: user name, password, who they are, their groups."""
    rows = [("user / gebruiker", "password / wachtwoord", "who / wie", "groups / groepen")]
    for a in accounts.values():
        rows.append((a.username, a.password, a.summary_en, " ".join(a.groups)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 16)
    return "\n".join(lines)
