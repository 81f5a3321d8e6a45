"""Every text the portal shows, in Dutch and English. Templates call ``t("key")``.

Error pages show a localised headline per ``reason`` (``error.<reason>``) above the error's own message,
which names the values involved; the JSON API sends the same headline as ``title``. Every reason the portal,
the catalogue or the hub can give has one (the hub's reasons reach the portal through its reason header).
"""

from __future__ import annotations

from typing import Callable

LANGUAGES = ("nl", "en")

TEXTS: dict[str, tuple[str, str]] = {
    # (Dutch, English)
    "site.name": ("Gereedschapskist", "Gereedschapskist"),
    "site.tagline": ("Een veilige werkplek voor dataspecialisten bij de overheid",
                     "A safe workbench for data specialists in government"),
    "nav.skip": ("Naar de inhoud", "Skip to content"),
    "nav.main": ("Hoofdmenu", "Main menu"),
    "nav.home": ("Start", "Home"),
    "nav.catalogue": ("Catalogus", "Catalogue"),
    "nav.workspaces": ("Mijn werkplekken", "My workspaces"),
    "nav.organisation": ("Organisatie {org}", "Organisation {org}"),
    "nav.language": ("Taal", "Language"),
    "nav.login": ("Inloggen", "Log in"),
    "nav.logout": ("Uitloggen", "Log out"),
    "home.title": ("Welkom bij de Gereedschapskist", "Welcome to Gereedschapskist"),
    "home.intro": ("Log in met het account van uw organisatie. U ziet dan de standaardpakketten van uw rol en "
                   "start een werkplek met JupyterLab, RStudio of VS Code.",
                   "Log in with your organisation's account. You then see the standard bundles of your role "
                   "and start a workspace with JupyterLab, RStudio or VS Code."),
    "home.hello": ("Hallo {name}", "Hello {name}"),
    "home.roles": ("Uw rollen", "Your roles"),
    "home.no_roles": ("U heeft nog geen rol in de Gereedschapskist. Vraag uw organisatiebeheerder om een rol.",
                      "You have no role in Gereedschapskist yet. Ask your organisation admin for one."),
    "home.organisations": ("Uw organisaties", "Your organisations"),
    "home.begin": ("Kies een pakket om te beginnen", "Pick a bundle to begin"),
    "login.unconfigured": ("Inloggen is op deze portal niet ingesteld.", "Login is not configured on this portal."),
    "role.data-scientist": ("datawetenschapper", "data scientist"),
    "role.organisation-admin": ("organisatiebeheerder", "organisation admin"),
    "role.data-owner": ("data-eigenaar", "data owner"),
    "catalogue.title": ("Catalogus", "Catalogue"),
    "catalogue.intro": ("De standaardpakketten voor uw rollen. Elk pakket is beoordeeld op veiligheid en bevat "
                        "vaste versies van zijn gereedschap.",
                        "The standard bundles for your roles. Every bundle has passed a security review and "
                        "holds pinned versions of its tools."),
    "catalogue.empty": ("Voor uw rollen zijn (nog) geen pakketten beschikbaar.",
                        "No bundles are offered for your roles (yet)."),
    "catalogue.for_role": ("Voor de rol {role}", "For the role {role}"),
    "catalogue.details": ("Details van {bundle}", "Details of {bundle}"),
    "bundle.version": ("Versie", "Version"),
    "bundle.interfaces": ("Werkomgevingen", "Interfaces"),
    "bundle.packages": ("Pakketten en versies", "Packages and versions"),
    "bundle.package": ("Pakket", "Package"),
    "bundle.ecosystem": ("Bron", "Source"),
    "bundle.licence": ("Licentie", "Licence"),
    "bundle.open_source": ("Open source", "Open source"),
    "bundle.not_open_source": ("Geen open source — reden: {why}", "Not open source — justification: {why}"),
    "bundle.review": ("Veiligheidsbeoordeling", "Security review"),
    "bundle.review_text": ("door {by} op {on}, geldig tot {until}", "by {by} on {on}, valid until {until}"),
    "bundle.review_expired": ("De veiligheidsbeoordeling is verlopen; dit pakket kan niet worden gestart.",
                              "The security review has expired; this bundle cannot be started."),
    "bundle.lifecycle": ("Levenscyclus", "Lifecycle"),
    "bundle.status.active": ("actief", "active"),
    "bundle.status.deprecated": ("verouderd", "deprecated"),
    "bundle.status.retired": ("uit gebruik", "retired"),
    "bundle.deprecated_since": ("Verouderd sinds {since}.", "Deprecated since {since}."),
    "bundle.successor": ("Opvolger: {successor}", "Successor: {successor}"),
    "bundle.retires_on": ("Gaat uit gebruik op {date}.", "Retires on {date}."),
    "bundle.supply": ("Leveringsmodel", "Supply model"),
    "supply.standard-contract": ("a — standaardcontract", "a — standard contract"),
    "supply.saas-package": ("b — SaaS-pakket", "b — SaaS package"),
    "supply.iaas-component": ("c — IaaS-component", "c — IaaS component"),
    "supply.custom": ("d — maatwerk", "d — custom"),
    "bundle.maintainers": ("Beheerders", "Maintainers"),
    "bundle.roles": ("Rollen", "Roles"),
    "bundle.sizes": ("Formaten", "Sizes"),
    "bundle.gpu": ("met GPU", "with GPU"),
    "size.small": ("klein", "small"),
    "size.medium": ("middelgroot", "medium"),
    "size.large": ("groot", "large"),
    "size.xlarge": ("extra groot", "extra large"),
    "size.gpu-small": ("klein met GPU", "small with GPU"),
    "size.gpu-large": ("groot met GPU", "large with GPU"),
    "launch.title": ("Werkplek starten", "Start a workspace"),
    "launch.size": ("Formaat", "Size"),
    "launch.interface": ("Werkomgeving", "Interface"),
    "launch.organisation": ("Voor organisatie", "For organisation"),
    "launch.submit": ("Start werkplek", "Start workspace"),
    "launch.not_allowed": ("U kunt dit pakket niet starten: {why}", "You cannot start this bundle: {why}"),
    "resume.title": ("Uw werkplek wordt gestart", "Starting your workspace"),
    "resume.intro": ("U bent nu ook aangemeld bij de hub van uw organisatie, waar uw werkplekken draaien. Dat is "
                     "eenmalig en zonder nieuw wachtwoord. De portal start nu {bundle}.",
                     "You are now also signed in at your organisation's hub, where your workspaces run. This "
                     "happens once, without a new password. The portal now starts {bundle}."),
    "resume.manual": ("Gebeurt er niets? Start de werkplek dan met de knop.",
                      "Nothing happening? Then start the workspace with the button."),
    "resume.starting": ("Een ogenblik, de werkplek wordt gestart…", "One moment, starting the workspace…"),
    "hub_login.retry": ("Aanmelden bij de hub", "Sign in at the hub"),
    "why.hub-unavailable": ("de hub van uw organisatie antwoordt niet", "your organisation's hub does not answer"),
    "why.hub-not-configured": ("de portal is niet met de hub verbonden", "the portal is not connected to the hub"),
    "why.hub-token": ("de hub weigert de portal; uw beheerder kan dit herstellen",
                      "the hub refuses the portal; your administrator can fix this"),
    "why.hub-error": ("de hub gaf een onverwachte fout; probeer het later opnieuw",
                      "the hub reported an unexpected error; try again later"),
    "why.start-failed": ("de hub kon de werkplek niet starten; probeer het opnieuw of kies een ander formaat",
                         "the hub could not start the workspace; try again or choose another size"),
    "why.hidden": ("De details staan in het logboek van de portal; uw beheerder kan ze inzien.",
                   "The details are in the portal's log, where your administrator can read them."),
    # pages in Dutch show these instead of an error's own message (which is English, for the API and the log)
    "why.role": ("dit pakket is bedoeld voor een andere rol dan de uwe", "this bundle is meant for another role"),
    "why.not-offered": ("het pakket is uit gebruik of de veiligheidsbeoordeling is verlopen",
                        "the bundle is retired or its security review has expired"),
    "why.unknown-size": ("kies een van de formaten van dit pakket", "choose one of this bundle's sizes"),
    "why.unknown-interface": ("kies een van de werkomgevingen van dit pakket", "choose one of this bundle's interfaces"),
    "why.interface-unavailable": ("deze omgeving kan die werkomgeving niet starten; kies een andere",
                                  "this environment cannot run that interface; choose another"),
    "why.not-a-member": ("u kunt alleen een werkplek starten voor een organisatie waarvan u lid bent",
                         "you can only start a workspace for an organisation you are a member of"),
    "why.no-organisation": ("uw inloggegevens noemen geen organisatie waarvoor u een werkplek kunt starten",
                            "your login names no organisation to start a workspace for"),
    "why.organisation-required": ("u bent lid van meerdere organisaties; kies er een",
                                  "you are a member of several organisations; choose one"),
    "why.hub-refused": ("de hub staat deze werkplek nu niet toe, bijvoorbeeld omdat u al het hoogste aantal "
                        "werkplekken heeft", "the hub does not allow this workspace now, for example because you "
                        "already have the most workspaces allowed"),
    "workspaces.title": ("Mijn werkplekken", "My workspaces"),
    "workspaces.empty": ("U heeft nog geen werkplekken. Kies een pakket in de catalogus.",
                         "You have no workspaces yet. Pick a bundle in the catalogue."),
    "workspaces.unavailable": ("Werkplekken zijn op dit moment niet beschikbaar: {why}. Pagina's en de catalogus "
                               "werken gewoon; probeer het later opnieuw.",
                               "Workspaces are unavailable right now: {why}. Pages and the catalogue still work; "
                               "try again later."),
    "workspace.title": ("Werkplek {name}", "Workspace {name}"),
    "workspace.bundle": ("Pakket", "Bundle"),
    "workspace.size": ("Formaat", "Size"),
    "workspace.interface": ("Werkomgeving", "Interface"),
    "workspace.organisation": ("Organisatie", "Organisation"),
    "workspace.environment": ("Omgeving", "Environment"),
    "workspace.owner": ("Gebruiker", "User"),
    "workspace.status": ("Status", "Status"),
    "workspace.created": ("Gestart op", "Launched at"),
    "workspace.open": ("Open werkplek", "Open workspace"),
    "workspace.stop": ("Stop werkplek", "Stop workspace"),
    "workspace.details": ("Details", "Details"),
    "workspace.progress": ("Voortgang", "Progress"),
    "workspace.progress_nojs": ("Deze pagina ververst zichzelf tot de werkplek klaar is.",
                                "This page refreshes itself until the workspace is ready."),
    "workspace.ready": ("Uw werkplek is klaar.", "Your workspace is ready."),
    "workspace.failed": ("Starten is mislukt: {why}", "Starting failed: {why}"),
    "workspace.actions": ("Acties", "Actions"),
    # hub servers the portal does not know, on "my workspaces" (issue 12, defect 3)
    "workspaces.hub_only_title": ("Servers op de hub die de portal niet kent", "Servers at the hub the portal does "
                                  "not know"),
    "workspaces.hub_only_intro": ("Deze servers staan op de hub van uw organisatie, maar niet bij uw werkplekken, "
                                  "bijvoorbeeld na een start die niet doorging. Ze tellen mee voor het maximum "
                                  "aantal servers per gebruiker. Verwijder ze als u ze niet meer nodig heeft.",
                                  "These servers are at your organisation's hub but not among your workspaces, for "
                                  "example after a start that did not go through. They count against the limit "
                                  "of servers per user. Remove them when you no longer need them."),
    "workspaces.hub_server": ("Naam op de hub", "Name at the hub"),
    "workspaces.hub_only_remove": ("Verwijderen van de hub", "Remove from the hub"),
    # which interfaces the environment's hub can run, on a bundle's page (issue 12, defect 4)
    "interface.available": ("kan hier starten", "can start here"),
    "interface.missing": ("kan hier niet starten: {program} is niet geïnstalleerd op de machine van de hub",
                          "cannot start here: {program} is not installed on the hub's machine"),
    "interface.unavailable": ("kan hier niet starten: de hub biedt deze werkomgeving niet aan",
                              "cannot start here: the hub does not offer this interface"),
    "interface.unknown": ("Welke werkomgevingen hier kunnen starten is nu niet bekend: de hub zegt het niet. De "
                          "hub beslist bij het starten.",
                          "Which interfaces can start here is not known right now: the hub does not say. The hub "
                          "decides at launch."),
    "error.unknown-environment": ("Onbekende omgeving", "Unknown environment"),
    "workspace.hub_message": ("Melding van de hub (in het Engels)", "The hub's message"),
    "environment.kind.local": ("lokaal", "local"),
    "environment.kind.cloud": ("cloud", "cloud"),
    "environment.stage.development": ("ontwikkeling", "development"),
    "environment.stage.production": ("productie", "production"),
    "status.starting": ("wordt gestart", "starting"),
    "status.running": ("actief", "running"),
    "status.stopping": ("wordt gestopt", "stopping"),
    "status.stopped": ("gestopt", "stopped"),
    "status.failed": ("mislukt", "failed"),
    "organisation.title": ("Organisatie {org}", "Organisation {org}"),
    "organisation.members": ("Leden en hun rollen", "Members and their roles"),
    "organisation.member": ("Lid", "Member"),
    "organisation.member_roles": ("Rol in de organisatie", "Role in the organisation"),
    "organisation.workbench_roles": ("Werkrollen", "Workbench roles"),
    "organisation.workspaces": ("Actieve werkplekken", "Running workspaces"),
    "organisation.no_workspaces": ("Er zijn geen actieve werkplekken.", "There are no running workspaces."),
    "error.title": ("Er ging iets mis", "Something went wrong"),
    "error.back": ("Terug naar de start", "Back to the start"),
    "error.not-found": ("Niet gevonden", "Not found"),
    "error.unknown-bundle": ("Onbekend pakket", "Unknown bundle"),
    "error.unknown-role": ("Onbekende rol", "Unknown role"),
    "error.unknown-size": ("Onbekend formaat", "Unknown size"),
    "error.unknown-interface": ("Onbekende werkomgeving", "Unknown interface"),
    "error.unknown-workspace": ("Onbekende werkplek", "Unknown workspace"),
    "error.unknown-organisation": ("Onbekende organisatie", "Unknown organisation"),
    "error.role": ("Dit pakket hoort niet bij uw rol", "This bundle is not for your role"),
    "error.not-offered": ("Dit pakket wordt niet meer aangeboden", "This bundle is no longer offered"),
    "error.not-in-environment": ("Dit pakket wordt in de omgeving van uw organisatie niet aangeboden",
                                 "This bundle is not offered in your organisation's environment"),
    "error.interface-unavailable": ("Deze werkomgeving is hier niet beschikbaar",
                                    "This interface is not available here"),
    "error.no-bundle": ("Kies een pakket om te starten", "Choose a bundle to start"),
    "error.bad-options": ("De hub begreep de startopties niet", "The hub did not understand the launch options"),
    "error.not-a-member": ("U bent geen lid van die organisatie", "You are not a member of that organisation"),
    "error.no-organisation": ("U hoort bij geen organisatie", "You belong to no organisation"),
    "error.organisation-required": ("Kies een organisatie", "Choose an organisation"),
    "error.not-yours": ("Dit is niet uw werkplek", "This is not your workspace"),
    "error.not-organisation-admin": ("Alleen voor organisatiebeheerders", "For organisation admins only"),
    "error.not-active": ("De werkplek draait niet", "The workspace is not running"),
    "error.login-required": ("Log eerst in", "Please log in first"),
    "error.csrf": ("Het formulier is verlopen; probeer het opnieuw",
                   "The form has expired; please try again"),
    "error.hub-unavailable": ("Werkplekken zijn niet beschikbaar", "Workspaces are unavailable"),
    "error.hub-not-configured": ("Werkplekken zijn niet ingesteld", "Workspaces are not configured"),
    "error.no-environment": ("Er is geen omgeving voor uw organisatie", "There is no environment for your "
                                                                        "organisation"),
    "error.hub-login-needed": ("Meld u eerst aan bij de hub (eenmalig, zonder nieuw wachtwoord)",
                               "Sign in at the hub first (once, without a new password)"),
    "error.hub-refused": ("De hub weigerde de werkplek", "The hub refused the workspace"),
    "error.hub-error": ("De hub gaf een fout", "The hub reported an error"),
    "error.hub-token": ("De portal is niet goed gekoppeld aan de hub", "The portal is not connected to the hub "
                                                                        "properly"),
    "error.login-failed": ("Inloggen is mislukt", "Login failed"),
    "error.login-refused": ("Inloggen is geweigerd", "Login was refused"),
    "error.login-unavailable": ("Inloggen is niet beschikbaar", "Login is unavailable"),
    "error.login-not-configured": ("Inloggen is niet ingesteld", "Login is not configured"),
    "error.claim-missing": ("Uw inloggegevens missen een gegeven", "Your login lacks a claim"),
    "error.claim-invalid": ("Uw inloggegevens zijn onjuist", "Your login has an invalid claim"),
    "error.login-expired": ("Uw inlogsessie is verlopen; log opnieuw in", "Your login has expired; please log in "
                                                                          "again"),
    "error.not-admitted": ("Deze portal is niet voor u opengesteld", "This portal is not open to you"),
    "error.username-taken": ("Deze gebruikersnaam is al in gebruik", "This user name is already taken"),
    "error.invalid-input": ("Ongeldige invoer", "Invalid input"),
    "error.bad-request": ("Ongeldig verzoek", "Bad request"),
    "error.conflict": ("Dat kan nu niet", "Not possible right now"),
    "error.forbidden": ("Geen toegang", "Not allowed"),
    "error.http-error": ("Er ging iets mis", "Something went wrong"),
    "error.hub-not-found": ("De hub kent dit niet (meer)", "The hub does not know this (any more)"),
    "error.start-failed": ("Starten is mislukt", "Starting failed"),
    "error.invalid-settings": ("De instellingen zijn ongeldig", "The settings are invalid"),
    "error.roles-refused": ("De databaserollen konden niet worden ingericht", "The database roles could not be set up"),
}


def translator(language: str) -> Callable[..., str]:
    index = 0 if language == "nl" else 1

    def t(key: str, **values: object) -> str:
        pair = TEXTS.get(key)
        if pair is None:
            return key
        text = pair[index]
        return text.format(**values) if values else text

    return t


def reason_title(language: str, reason: str) -> str:
    """The headline of an error ``reason`` in ``language``; the general one for a reason without a text."""
    t = translator(language)
    title = t(f"error.{reason}")
    return t("error.title") if title == f"error.{reason}" else title


def pick_language(*, chosen: str | None, accept_language: str | None, default: str) -> str:
    """The visitor's choice, else the first of their browser's languages we have, else the default."""
    if chosen in LANGUAGES:
        return chosen
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default
