"""Role recognition: the token's groups become roles and memberships, kept in the database on each login."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from gereedschapskist.portal.errors import LoginFailed
from gereedschapskist.portal.models import Member, MemberRoleName, MemberStatus, Organisation, User
from gereedschapskist.portal.services.identity import (
    GroupPolicy, Identity, admission, hub_groups, identity_from_claims, recognise_groups, record_login,
)

ADMINS = "gereedschapskist:admins"
POLICY = GroupPolicy(admin_group=ADMINS, organisations=frozenset({"cbs", "minfin"}),
                     roles=frozenset({"bi", "ml", "streaming", "dev"}))


def test_groups_are_sorted_into_roles_memberships_and_admin():
    found = recognise_groups(["org:cbs", "role:ml", "role:bi", "org-admin:cbs", "data-owner:minfin",
                              ADMINS, "org:", "unrelated", "other:thing", "role:bad id"], policy=POLICY)
    assert found.roles == {"ml", "bi"}
    assert found.organisations == {"cbs": {MemberRoleName.DATA_SCIENTIST, MemberRoleName.ORGANISATION_ADMIN},
                                   "minfin": {MemberRoleName.DATA_OWNER}}
    assert found.platform_admin is True
    assert sorted(found.ignored) == ["org:", "other:thing", "role:bad id", "unrelated"]


def _identity(groups, *, sub="sub-1", username="alice"):
    return Identity(issuer="https://issuer", subject=sub, username=username, name="Alice", email="a@x.nl",
                    groups=tuple(groups))


def test_first_login_creates_user_organisations_and_memberships(database):
    with Session(database.engine) as session:
        user = record_login(session, identity=_identity(["org:cbs", "role:ml", "org-admin:cbs"]), policy=POLICY)
        session.commit()
        assert user.role_ids == ["ml"]
        [member] = user.active_memberships()
        assert member.organisation.slug == "cbs"
        assert set(member.role_names) == {MemberRoleName.DATA_SCIENTIST, MemberRoleName.ORGANISATION_ADMIN}
        assert user.platform_admin is False and user.last_login_at is not None


def test_each_login_replaces_roles_and_ends_memberships_no_longer_in_the_token(database):
    with Session(database.engine) as session:
        record_login(session, identity=_identity(["org:cbs", "org:minfin", "role:ml", "org-admin:cbs"]),
                     policy=POLICY)
        session.commit()
    with Session(database.engine) as session:
        user = record_login(session, identity=_identity(["org:minfin", "role:bi", ADMINS]), policy=POLICY)
        session.commit()
    with Session(database.engine) as session:
        user = session.scalar(select(User))
        assert user.role_ids == ["bi"] and user.platform_admin is True
        assert [m.organisation.slug for m in user.active_memberships()] == ["minfin"]
        cbs = session.scalar(select(Member).join(Organisation).where(Organisation.slug == "cbs"))
        assert cbs.status is MemberStatus.FORMER and cbs.until is not None
        assert not cbs.has_role(MemberRoleName.ORGANISATION_ADMIN)
    with Session(database.engine) as session:       # and back again: the membership is reactivated
        user = record_login(session, identity=_identity(["org:cbs"]), policy=POLICY)
        session.commit()
        assert sorted(m.organisation.slug for m in user.active_memberships()) == ["cbs"]
        assert session.scalar(select(Member.id).where(Member.status == MemberStatus.ACTIVE)) is not None
        assert len(session.scalars(select(Member)).all()) == 2


def test_a_user_name_of_another_account_is_refused_and_nothing_changes(database):
    with Session(database.engine) as session:
        record_login(session, identity=_identity(["role:ml"]), policy=POLICY)
        session.commit()
    with Session(database.engine) as session:
        with pytest.raises(LoginFailed) as caught:
            record_login(session, identity=_identity(["role:bi"], sub="another"), policy=POLICY)
        assert caught.value.reason == "username-taken"
        session.rollback()
        assert session.scalar(select(User)).role_ids == ["ml"]


def test_claims_are_read_with_the_configured_names():
    identity = identity_from_claims({"sub": "42", "preferred_username": "bob", "groups": ["org:cbs"],
                                     "name": "Bob"}, issuer="https://i", username_claim="preferred_username",
                                    groups_claim="groups")
    assert identity.username == "bob" and identity.groups == ("org:cbs",)


@pytest.mark.parametrize("claims, reason, names", [
    ({"preferred_username": "bob"}, "claim-missing", "'sub'"),
    ({"sub": "1"}, "claim-missing", "'preferred_username'"),
    ({"sub": "1", "preferred_username": "bob", "groups": [1, 2]}, "claim-invalid", "'groups' claim = [1, 2]"),
])
def test_missing_or_malformed_claims_are_named(claims, reason, names):
    with pytest.raises(LoginFailed) as caught:
        identity_from_claims(claims, issuer="https://i", username_claim="preferred_username", groups_claim="groups")
    assert caught.value.reason == reason and names in caught.value.message


def test_hub_groups_are_the_token_groups_the_portal_recognised(database):
    with Session(database.engine) as session:
        user = record_login(session, identity=_identity(["org:cbs", "role:ml", "data-owner:cbs", "x"]),
                            policy=POLICY)
        assert hub_groups(user) == ["data-owner:cbs", "org:cbs", "role:ml"]


def test_an_unknown_organisation_or_role_in_the_claim_is_refused_logged_and_never_created(database, caplog):
    identity = _identity(["org:cbs", "org:evil", "org-admin:evil", "role:ml", "role:root"])
    with caplog.at_level("WARNING", logger="gereedschapskist.portal.services.identity"):
        found = admission(identity, policy=POLICY)
    assert found.organisations == {"cbs": {MemberRoleName.DATA_SCIENTIST}} and found.roles == {"ml"}
    assert set(found.refused) == {"org:evil", "org-admin:evil", "role:root"}
    [line] = [r.getMessage() for r in caplog.records]
    assert "alice" in line and "org-admin:evil: organisation 'evil' is not in ORGANISATIONS" in line
    assert "role:root: role 'root' is not in the catalogue" in line
    with Session(database.engine) as session:
        user = record_login(session, identity=identity, policy=POLICY)
        session.commit()
        assert [m.organisation.slug for m in user.active_memberships()] == ["cbs"]
        assert session.scalars(select(Organisation.slug)).all() == ["cbs"]


def test_a_login_with_no_accepted_organisation_is_refused_with_the_reason():
    with pytest.raises(LoginFailed) as caught:
        admission(_identity(["org:evil", "role:bi"]), policy=POLICY)
    assert caught.value.reason == "not-admitted"
    assert "org:evil" in caught.value.message and "not a member of any organisation" in caught.value.message
    assert admission(_identity([ADMINS]), policy=POLICY).platform_admin is True     # admins need none


def test_a_mapping_translates_the_issuers_entitlements_and_refuses_the_unmapped():
    policy = GroupPolicy(admin_group=ADMINS, organisations=POLICY.organisations, roles=POLICY.roles, mapping={
        "urn:mace:example.nl:org:*": "org:*", "urn:mace:example.nl:role:*": "role:*",
        "urn:mace:example.nl:platform-admins": ADMINS})
    found = recognise_groups(["urn:mace:example.nl:org:cbs", "urn:mace:example.nl:role:ml",
                              "urn:mace:example.nl:platform-admins", "org:minfin", ADMINS + "x"], policy=policy)
    assert found.organisations == {"cbs": {MemberRoleName.DATA_SCIENTIST}} and found.roles == {"ml"}
    assert found.platform_admin is True
    # with a mapping, our own names are no longer taken as they come
    assert set(found.refused) == {"org:minfin", ADMINS + "x"}


def test_case_variant_names_map_to_one_user_as_on_the_hub(database):
    claims = {"sub": "s-1", "preferred_username": " Anna ", "groups": ["org:cbs"]}
    first = identity_from_claims(claims, issuer="https://i", username_claim="preferred_username",
                                 groups_claim="groups")
    assert first.username == "anna"
    again = identity_from_claims({**claims, "preferred_username": "ANNA"}, issuer="https://i",
                                 username_claim="preferred_username", groups_claim="groups")
    with Session(database.engine) as session:
        one = record_login(session, identity=first, policy=POLICY)
        two = record_login(session, identity=again, policy=POLICY)
        session.commit()
        assert one is two and session.scalars(select(User.username)).all() == ["anna"]
    with Session(database.engine) as session:       # another account whose name differs only in case: refused
        session.execute(User.__table__.update().values(username="Anna"))      # as kept before lowercasing
        other = identity_from_claims({**claims, "sub": "s-2", "preferred_username": "anna"}, issuer="https://i",
                                     username_claim="preferred_username", groups_claim="groups")
        with pytest.raises(LoginFailed) as caught:
            record_login(session, identity=other, policy=POLICY)
        assert caught.value.reason == "username-taken"
