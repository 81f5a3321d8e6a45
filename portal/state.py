"""What one running portal holds: settings, database, catalogue, hubs, login — built once by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gereedschapskist.catalogue import Catalogue
from gereedschapskist.core.groups import GroupPolicy

from .fragments import Fragments
from .oidc import OidcLogin
from .sessions import SessionStore
from .settings import PortalSettings
from .workspace_hub import Hubs


@dataclass
class PortalState:
    settings: PortalSettings
    engine: Engine
    sessions: sessionmaker[Session]
    catalogue: Catalogue
    hubs: Hubs
    oidc: OidcLogin
    templates: Jinja2Templates
    fragments: Fragments            # rendered page parts that depend only on their key (fragments.py)
    session_store: SessionStore
    group_policy: GroupPolicy
