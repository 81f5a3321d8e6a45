"""The portal's domain model (SQLAlchemy 2). Importing this package registers every table on ``Base``."""

from .base import Base, UTCDateTime, utcnow
from .bundle_request import BundleRequest, BundleRequestState
from .contract import HOLDING, TRANSITIONS, Contract, ContractState, ContractTransition, ProvisioningStatus
from .contract_notice import ContractNotice
from .dataset import AccessRequest, AccessRequestState, Dataset, DatasetCategory, DatasetGrant, SensitivityLevel
from .environment import Environment, EnvironmentKind, EnvironmentStage, EnvironmentStatus
from .grant import MembershipEnd, RoleGrant
from .metering import Lease, WorkspaceSession
from .published_app import AppState, AudienceKind, PublishedApp, PublishedAppVersion
from .organisation import Member, MemberRole, MemberRoleName, MemberStatus, Organisation, User, UserRole
from .register import GENESIS, RegisterAction, RegisterEntry, RegisterIsAppendOnly, entry_digest
from .session import PortalSession
from .size_request import SizeRequest, SizeRequestState
from .workspace import ACTIVE_STATUSES, Workspace, WorkspaceStatus
from .workspace_usage import WorkspaceUsage

__all__ = [
    "AppState", "AudienceKind", "PublishedApp", "PublishedAppVersion",
    "BundleRequest", "BundleRequestState",
    "AccessRequest", "AccessRequestState", "Dataset", "DatasetCategory", "DatasetGrant", "SensitivityLevel",
    "ACTIVE_STATUSES", "Base", "Contract", "ContractNotice", "ContractState", "ContractTransition", "GENESIS",
    "HOLDING", "Lease", "ProvisioningStatus", "SizeRequest", "SizeRequestState", "WorkspaceSession",
    "TRANSITIONS", "Environment", "EnvironmentKind", "EnvironmentStage", "EnvironmentStatus",
    "Member", "MembershipEnd", "MemberRole", "MemberRoleName", "MemberStatus", "Organisation", "PortalSession",
    "RegisterAction",
    "RegisterEntry", "RegisterIsAppendOnly", "RoleGrant", "User", "UserRole", "UTCDateTime", "Workspace",
    "WorkspaceStatus", "WorkspaceUsage", "entry_digest", "utcnow",
]
