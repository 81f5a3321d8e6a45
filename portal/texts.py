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
    "launch.starting": ("Uw werkplek wordt gestart…", "Starting your workspace…"),
    "launch.preparing": ("De omgeving van deze bundel wordt nu klaargezet. Starten kan al; de eerste start wacht "
                         "tot de omgeving klaar is.",
                         "This bundle's environment is being prepared now. You can start already; the first start "
                         "waits until it is ready."),
    "launch.starting_hint": ("Zodra de hub de start heeft aangenomen, ziet u hoe het ermee staat.",
                             "As soon as the hub has accepted the start, you see how it is going."),
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
    "why.hub-unavailable": ("de hub van uw organisatie antwoordt niet; misschien wordt hij net opnieuw gestart",
                            "your organisation's hub does not answer; it may be restarting"),
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
    "workspaces.recheck": ("Uw werkplekken en hun bestanden blijven bewaard. Deze pagina kijkt elke {seconds} "
                           "seconden zelf of de hub er weer is.", "Your workspaces and their files are kept. This "
                           "page checks by itself every {seconds} seconds whether the hub is back."),
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
    # the workspace lifecycle: name, stop (confirmed; an admin says why), restart, delete (confirmed), history
    "status.deleted": ("verwijderd", "deleted"),
    "workspace.name": ("Naam", "Name"),
    "workspace.name_hint": ("Een naam van uzelf, om uw werkplekken uit elkaar te houden (hoogstens {max} tekens).",
                            "A name of your own, to tell your workspaces apart (at most {max} characters)."),
    "workspace.rename": ("Naam opslaan", "Save name"),
    "workspace.restart": ("Opnieuw starten", "Restart"),
    "workspace.delete": ("Verwijderen", "Delete"),
    "workspace.stopped_at": ("Gestopt op", "Stopped at"),
    "workspace.stopped_by": ("{who} ({role}) heeft deze werkplek gestopt op {at} (UTC).",
                             "{who} ({role}) stopped this workspace on {at} (UTC)."),
    "workspace.stopped_by_reason": ("Reden: {reason}", "Reason: {reason}"),
    "workspace.stopped_by_role.platform": ("platformbeheerder", "platform admin"),
    "workspace.stopped_by_role.organisation": ("organisatiebeheerder", "organisation admin"),
    "workspace.restart_hint": ("Opnieuw starten gebruikt dezelfde thuismap: uw bestanden staan er nog.",
                               "A restart uses the same home folder: your files are still there."),
    "workspace.failed_hint": ("Probeer het nog eens met de knop Opnieuw starten. Lukt het weer niet, kies dan een "
                              "ander formaat of vraag uw beheerder om hulp.", "Try again with the Restart button. "
                              "If it fails again, choose another size or ask your administrator for help."),
    "workspace.deleted": ("Deze werkplek is verwijderd op {at} (UTC).", "This workspace was deleted on {at} (UTC)."),
    "workspaces.active": ("Actieve werkplekken", "Active workspaces"),
    "workspaces.no_active": ("Er draait nu geen werkplek.", "No workspace is running now."),
    "workspaces.history_title": ("Geschiedenis", "History"),
    "workspaces.history": ("Geschiedenis van {bundle} ({count})", "History of {bundle} ({count})"),
    "workspaces.history_intro": ("Gestopte werkplekken houden hun thuismap tot u ze verwijdert. Ze tellen mee voor "
                                 "het hoogste aantal werkplekken dat de hub u toestaat.",
                                 "Stopped workspaces keep their home folder until you delete them. They count "
                                 "towards the most workspaces the hub allows you."),
    "confirm.stop_title": ("Werkplek stoppen?", "Stop this workspace?"),
    "confirm.stop_intro": ("{name} stopt. Werk dat niet is opgeslagen, zoals draaiende notebooks, gaat verloren. De "
                           "bestanden in de thuismap blijven bewaard: u kunt de werkplek later opnieuw starten.",
                           "{name} stops. Work that is not saved, such as running notebooks, is lost. The files in "
                           "the home folder are kept: you can restart the workspace later."),
    "confirm.stop_admin": ("Dit is de werkplek van {owner}. Zeg waarom u hem stopt: {owner} ziet uw naam en uw reden.",
                           "This is {owner}'s workspace. Say why you stop it: {owner} sees your name and your "
                           "reason."),
    "confirm.reason": ("Reden (verplicht)", "Reason (required)"),
    "confirm.stop_submit": ("Ja, stop de werkplek", "Yes, stop the workspace"),
    "confirm.cancel": ("Annuleren", "Cancel"),
    "confirm.delete_title": ("Werkplek verwijderen?", "Delete this workspace?"),
    "confirm.delete_intro_cloud": ("{name} wordt verwijderd, met zijn thuismap en alle bestanden daarin. Dit kan "
                                   "niet ongedaan worden gemaakt.", "{name} is deleted, with its home folder and "
                                   "every file in it. This cannot be undone."),
    "confirm.delete_intro_local": ("{name} wordt verwijderd en kan niet meer opnieuw worden gestart. Op deze machine "
                                   "delen uw werkplekken één thuismap; die blijft bewaard.",
                                   "{name} is deleted and can no longer be restarted. On this machine your "
                                   "workspaces share one home folder; it is kept."),
    "confirm.delete_check_cloud": ("Ik begrijp dat de thuismap van deze werkplek met alle bestanden wordt verwijderd",
                                   "I understand that this workspace's home folder is deleted with every file in it"),
    "confirm.delete_check_local": ("Ik begrijp dat deze werkplek wordt verwijderd",
                                   "I understand that this workspace is deleted"),
    "confirm.delete_submit": ("Verwijder de werkplek", "Delete the workspace"),
    "error.reason-required": ("Geef een reden op", "Give a reason"),
    "why.reason-required": ("als u de werkplek van iemand anders stopt, zeg dan waarom; de eigenaar leest het",
                            "when you stop someone else's workspace, say why; its owner reads it"),
    "error.invalid-reason": ("Ongeldige reden", "Invalid reason"),
    "why.invalid-reason": ("de reden is te lang of bevat onzichtbare tekens", "the reason is too long or holds "
                           "invisible characters"),
    "error.invalid-name": ("Ongeldige naam", "Invalid name"),
    "why.invalid-name": ("de naam is te lang of bevat onzichtbare tekens", "the name is too long or holds invisible "
                         "characters"),
    "error.confirmation-required": ("Bevestig eerst", "Confirm first"),
    "why.confirmation-required": ("vink het vakje aan om te bevestigen dat u de werkplek wilt verwijderen",
                                  "tick the box to confirm that you want to delete the workspace"),
    "error.not-ended": ("Dat kan niet in deze toestand", "Not possible in this state"),
    "why.not-ended": ("alleen een gestopte werkplek kan opnieuw worden gestart of worden verwijderd; stop hem eerst",
                      "only a stopped workspace can be restarted or deleted; stop it first"),
    "organisation.title": ("Organisatie {org}", "Organisation {org}"),
    "organisation.members": ("Leden en hun rollen", "Members and their roles"),
    "organisation.member": ("Lid", "Member"),
    "organisation.member_roles": ("Rol in de organisatie", "Role in the organisation"),
    "organisation.workbench_roles": ("Werkrollen", "Workbench roles"),
    "organisation.workspaces": ("Actieve werkplekken", "Running workspaces"),
    "organisation.no_workspaces": ("Er zijn geen actieve werkplekken.", "There are no running workspaces."),
    # the admin screens (/admin/…): organisations, environments, usage, the register (issue 12)
    "nav.admin": ("Beheer", "Admin"),
    "admin.title": ("Beheer", "Administration"),
    "admin.intro_platform": ("Als platformbeheerder ziet u alle organisaties, omgevingen, het gebruik en het "
                             "verwerkingsregister.", "As a platform admin you see every organisation, environment, "
                             "the usage and the processing register."),
    "admin.intro_organisation": ("Als organisatiebeheerder ziet u het gebruik en het verwerkingsregister van uw eigen "
                                 "organisatie.", "As an organisation admin you see the usage and the processing "
                                 "register of your own organisation."),
    "admin.organisations": ("Organisaties en leden", "Organisations and members"),
    "admin.organisations_about": ("wie er lid is, met welke rol", "who is a member, in which role"),
    "admin.organisations_intro": ("{count} organisaties, met hun actieve leden.",
                                  "{count} organisations, with their active members."),
    "admin.org_summary": ("{members} leden, {running} actieve werkplekken",
                          "{members} members, {running} running workspaces"),
    "admin.member_since": ("Lid sinds", "Member since"),
    "admin.no_members": ("Deze organisatie heeft geen actieve leden.", "This organisation has no active members."),
    "admin.no_organisations": ("Er zijn nog geen organisaties: ze ontstaan bij de eerste aanmelding van een lid.",
                               "There are no organisations yet: they appear at a member's first login."),
    "admin.environments": ("Omgevingen en hubs", "Environments and hubs"),
    "admin.environments_about": ("of de hub van elke omgeving antwoordt, en hoe snel",
                                 "whether each environment's hub answers, and how fast"),
    "admin.environments_intro": ("De gezondheid van elke hub, gecontroleerd om {at} (UTC).",
                                 "The health of every hub, checked at {at} (UTC)."),
    "admin.kind_stage": ("Soort en fase", "Kind and stage"),
    "admin.hub_health": ("Hub", "Hub"),
    "admin.hub_up": ("antwoordt", "answers"),
    "admin.hub_down": ("antwoordt niet", "does not answer"),
    "admin.hub_version": ("Versie", "Version"),
    "admin.hub_latency": ("Reactietijd", "Response time"),
    "admin.ms": ("{ms} ms", "{ms} ms"),
    "admin.running": ("Actieve werkplekken", "Running workspaces"),
    "admin.shared": ("gedeeld door alle organisaties", "shared by every organisation"),
    "admin.retired": ("buiten gebruik", "retired"),
    "admin.no_environments": ("Er is nog geen omgeving geregistreerd.", "No environment is registered yet."),
    "admin.usage": ("Gebruik", "Usage"),
    "admin.usage_about": ("actieve werkplekken en uren per pakket en per organisatie",
                          "running workspaces, hours per bundle and per organisation"),
    "admin.scope_all": ("U ziet alle organisaties.", "You see every organisation."),
    "admin.scope_some": ("U ziet: {orgs}.", "You see: {orgs}."),
    "admin.all_organisations": ("alle organisaties", "every organisation"),
    "admin.from": ("Van", "From"),
    "admin.to": ("Tot en met", "Up to and including"),
    "admin.show": ("Toon", "Show"),
    "admin.running_now": ("Werkplekken die nu draaien: {count}", "Workspaces running now: {count}"),
    "admin.since": ("Sinds", "Since"),
    "admin.hours_title": ("Uren van {start} tot en met {end}", "Hours from {start} up to and including {end}"),
    "admin.total_hours": ("Totaal: {hours} uur", "Total: {hours} hours"),
    "admin.per_bundle": ("Uren per pakket", "Hours per bundle"),
    "admin.per_organisation": ("Uren per organisatie", "Hours per organisation"),
    "admin.hours": ("Uren", "Hours"),
    "admin.workspaces": ("Werkplekken", "Workspaces"),
    "admin.no_hours": ("Geen uren in deze periode.", "No hours in this period."),
    "admin.chart_title": ("Werkplekuren per dag, {start} tot en met {end}",
                          "Workspace hours per day, {start} up to and including {end}"),
    "admin.chart_desc": ("Staafdiagram van {days} dagen; samen {hours} uur. De tabel onder het diagram geeft "
                         "dezelfde cijfers.", "Bar chart of {days} days; {hours} hours in all. The table below the "
                         "chart holds the same figures."),
    "admin.chart_caption": ("Uren dat werkplekken draaiden, per dag (UTC).",
                            "Hours workspaces ran, per day (UTC)."),
    "admin.chart_table": ("Dezelfde cijfers als tabel", "The same figures as a table"),
    "admin.day": ("Dag", "Day"),
    "admin.bar": ("{day}: {hours} uur", "{day}: {hours} hours"),
    "admin.register": ("Verwerkingsregister", "Processing register"),
    "admin.register_about": ("wie wat deed, wanneer; doorzoeken en exporteren",
                             "who did what, when; browse and export"),
    "admin.chain_ok": ("De keten van het register is intact: {entries} registraties, geen enkele gewijzigd, "
                       "verwijderd of verschoven.", "The register's chain is intact: {entries} entries, none changed, "
                       "removed or reordered."),
    "admin.chain_broken": ("De keten van het register is verbroken: er is een registratie gewijzigd, verwijderd of "
                           "verschoven. Meld dit direct aan de beveiligingsverantwoordelijke.",
                           "The register's chain is broken: an entry was changed, removed or reordered. Report this "
                           "to the security officer at once."),
    "admin.chain_checked": ("Gecontroleerd om {at} (UTC).", "Checked at {at} (UTC)."),
    "admin.actor": ("Wie", "Who"),
    "admin.action": ("Handeling", "Action"),
    "admin.all_actions": ("alle handelingen", "every action"),
    "admin.filter": ("Filter", "Filter"),
    "admin.export_note": ("Exporteer de {count} gevonden registraties; de export wordt zelf ook geregistreerd.",
                          "Export the {count} entries found; the export itself is recorded too."),
    "admin.export_csv": ("Exporteer als CSV", "Export as CSV"),
    "admin.export_json": ("Exporteer als JSON", "Export as JSON"),
    "admin.entries_found": ("{count} registraties gevonden (pagina {page} van {pages}).",
                            "{count} entries found (page {page} of {pages})."),
    "admin.when": ("Wanneer", "When"),
    "admin.subject": ("Wat", "What"),
    "admin.purpose": ("Doel", "Purpose"),
    "admin.the_portal": ("de portal", "the portal"),
    "admin.pages": ("Pagina's", "Pages"),
    "admin.previous": ("Vorige", "Previous"),
    "admin.next": ("Volgende", "Next"),
    "admin.page_of": ("Pagina {page} van {pages}", "Page {page} of {pages}"),
    "admin.no_entries": ("Geen registraties met dit filter.", "No entries match this filter."),
    "action.workspace-launched": ("werkplek aangevraagd", "workspace launched"),
    "action.workspace-started": ("werkplek gestart", "workspace started"),
    "action.workspace-failed": ("werkplek mislukt", "workspace failed"),
    "action.workspace-stopped": ("werkplek gestopt", "workspace stopped"),
    "action.workspace-restarted": ("werkplek herstart", "workspace restarted"),
    "action.workspace-renamed": ("werkplek hernoemd", "workspace renamed"),
    "action.workspace-deleted": ("werkplek verwijderd", "workspace deleted"),
    "action.register-exported": ("register geëxporteerd", "register exported"),
    "action.role-granted": ("werkrol toegekend", "workbench role granted"),
    "action.role-revoked": ("werkrol ingetrokken", "workbench role revoked"),
    "action.member-handed-over": ("lidmaatschap beëindigd bij overdracht", "membership ended by a handover"),
    "action.workspace-handed-over": ("werkplek overgedragen", "workspace handed over"),
    "action.member-readmitted": ("lid opnieuw toegelaten", "member readmitted"),
    "error.admin-only": ("Alleen voor beheerders", "For admins only"),
    "why.admin-only": ("deze pagina is er voor platformbeheerders en organisatiebeheerders",
                       "this page is for platform admins and organisation admins"),
    "why.not-platform-admin": ("deze pagina is er alleen voor platformbeheerders; organisatiebeheerders vinden het "
                               "gebruik en het register van hun organisatie via hun organisatiepagina",
                               "this page is for platform admins only; organisation admins find their organisation's "
                               "usage and register through their organisation's page"),
    "error.not-platform-admin": ("Alleen voor platformbeheerders", "For platform admins only"),
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

# --- who grants workbench roles, and workspace handover (portal/services/grants.py, handover.py; issue 12)
TEXTS.update({
    "home.advice.self_admin": ("U beheert {org}, maar uzelf geeft u geen rol. Vraag een andere beheerder van "
                               "{org}{others} of de beheerders van de identiteitsprovider om een rol voor u.",
                               "You administer {org}, but you do not grant yourself a role. Ask another admin of "
                               "{org}{others}, or the identity provider's administrators, for a role for you."),
    "home.advice.others": (" ({names})", " ({names})"),
    "home.advice.grant_others": ("Rollen voor de andere leden van {org} kent u toe op de pagina",
                                 "You grant roles to the other members of {org} on the page"),
    "home.advice.ask": ("Vraag een beheerder van {org} om een rol: {names}.",
                        "Ask an admin of {org} for a role: {names}."),
    "home.advice.no_admin": ("{org} heeft in de portal nog geen beheerder. Vraag de beheerders van uw "
                             "identiteitsprovider om een werkplekrol (een groep role:…) voor u.",
                             "{org} has no admin in the portal yet. Ask your identity provider's administrators for "
                             "a workbench role (a role:… group) for you."),
    "home.advice.platform": ("Als platformbeheerder krijgt u werkplekrollen alleen van de identiteitsprovider "
                             "(groepen role:…).",
                             "As a platform admin you get workbench roles from the identity provider only (role:… "
                             "groups)."),
    "home.granted_until": ("toegekend tot en met {until}", "granted through {until}"),
    "roles.title": ("Rollen en overdracht — {org}", "Roles and handover — {org}"),
    "roles.link": ("Rollen toekennen en werkplekken overdragen", "Grant roles and hand over workspaces"),
    "roles.intro": ("Werkplekrollen komen van de identiteitsprovider (groepen role:…). Daarbovenop kan een beheerder "
                    "van {org} een lid van {org} tijdelijk een werkplekrol geven: met een reden, hoogstens {days} "
                    "dagen vooruit, vastgelegd in het register en altijd in te trekken. Een beheerder geeft zichzelf "
                    "geen rol.",
                    "Workbench roles come from the identity provider (role:… groups). On top of that an admin of {org} "
                    "may give a member of {org} a workbench role for a while: with a reason, at most {days} days "
                    "ahead, recorded in the register and revocable at any time. An admin never grants themselves a "
                    "role."),
    "roles.members": ("Leden en hun werkplekrollen", "Members and their workbench roles"),
    "roles.member": ("Lid", "Member"),
    "roles.from_issuer": ("Van de identiteitsprovider", "From the identity provider"),
    "roles.granted": ("Toegekend in de portal", "Granted in the portal"),
    "roles.grant_line": ("{role} tot en met {until}, door {by}: {reason}", "{role} through {until}, by {by}: {reason}"),
    "roles.revoke": ("Intrekken", "Revoke"),
    "roles.none": ("geen", "none"),
    "roles.you": ("(u)", "(you)"),
    "roles.grant_heading": ("Een werkplekrol toekennen", "Grant a workbench role"),
    "roles.grant_role": ("Rol", "Role"),
    "roles.grant_until": ("Tot en met", "Through"),
    "roles.grant_reason": ("Reden", "Reason"),
    "roles.grant_submit": ("Rol toekennen", "Grant role"),
    "roles.grant_hint": ("Hoogstens {days} dagen vooruit, tot en met {max}. De reden komt in het register.",
                         "At most {days} days ahead, through {max}. The reason goes into the register."),
    "roles.platform_admin_no_grant": ("Platformbeheerders kennen geen werkplekrollen toe: dat doen de beheerders "
                                      "van {org}.",
                                      "Platform admins do not grant workbench roles: the admins of {org} do."),
    "roles.handover_heading": ("Werkplekken overdragen als iemand vertrekt",
                               "Hand over workspaces when someone leaves"),
    "roles.handover_intro": ("De gestopte werkplekken en de thuismap van het vertrekkende lid gaan naar een collega "
                             "in {org}. Het lidmaatschap eindigt: de sessies in de portal stoppen en inloggen voor "
                             "{org} lukt niet meer, ook als de identiteitsprovider de groep nog stuurt, tot een "
                             "beheerder het lid weer toelaat. Alles komt in het register. Draaiende werkplekken "
                             "stopt u eerst.",
                             "The leaving member's stopped workspaces and home folder go to a colleague in {org}. "
                             "The membership ends: their portal sessions end and logging in for {org} no longer "
                             "works, even while the identity provider still sends the group, until an admin "
                             "re-admits them. All of it goes into the register. Stop running workspaces first."),
    "roles.handover_leaving": ("Vertrekkend lid", "Leaving member"),
    "roles.handover_colleague": ("Collega die overneemt", "Colleague who takes over"),
    "roles.handover_submit": ("Overdragen en lidmaatschap beëindigen", "Hand over and end the membership"),
    "roles.choose": ("— kies —", "— choose —"),
    "roles.former_heading": ("Oud-leden", "Former members"),
    "roles.ended_at": ("Beëindigd op", "Ended on"),
    "roles.ended_by": ("Door", "By"),
    "roles.successor": ("Overgedragen aan", "Handed over to"),
    "roles.readmit": ("Weer toelaten", "Re-admit"),
    "roles.no_former": ("Er zijn geen oud-leden die wachten op toelating.",
                        "No former members wait to be re-admitted."),
    "roles.ended_grants": ("Beëindigde toekenningen", "Ended grants"),
    "roles.revoked_line": ("{role} voor {user}: ingetrokken door {by} op {at}",
                           "{role} for {user}: revoked by {by} on {at}"),
    "roles.expired_line": ("{role} voor {user}: verlopen op {at}", "{role} for {user}: expired on {at}"),
    "roles.done.granted": ("De rol is toegekend en vastgelegd in het register.",
                           "The role was granted and recorded in the register."),
    "roles.done.revoked": ("De rol is ingetrokken en dat is vastgelegd in het register.",
                           "The role was revoked, and the register records it."),
    "roles.done.handover": ("De overdracht van {member} is gedaan en vastgelegd in het register.",
                            "The handover of {member} is done and recorded in the register."),
    "roles.done.folder": ("De thuismap staat nu bij de collega, in de map {folder}.",
                          "The home folder is now in the colleague's home, in the folder {folder}."),
    "roles.done.readmitted": ("{member} wordt bij de volgende keer inloggen weer lid.",
                              "{member} becomes a member again at their next login."),
    "roles.problem": ("Dat lukte niet", "That did not work"),
    "error.grant-ended": ("Deze toekenning is al beëindigd", "This grant has already ended"),
    "error.grant-reason-required": ("Geef een reden voor de rol", "Give a reason for the role"),
    "error.grant-to-self": ("U kunt uzelf geen rol geven", "You cannot grant yourself a role"),
    "error.grant-too-long": ("Een toekenning duurt hoogstens een jaar", "A grant lasts at most a year"),
    "error.handover-of-self": ("Uw eigen werkplekken draagt een ander over", "Someone else hands over your workspaces"),
    "error.handover-to-self": ("Kies een andere collega", "Choose another colleague"),
    "error.invalid-date": ("Ongeldige datum", "Invalid date"),
    "error.not-a-former-member": ("Geen oud-lid", "Not a former member"),
    "error.not-organisation-member": ("Geen lid van deze organisatie", "Not a member of this organisation"),
    "error.role-already-held": ("Heeft deze rol al", "Already holds this role"),
    "error.unknown-grant": ("Onbekende toekenning", "Unknown grant"),
    "error.workspace-running": ("Er draaien nog werkplekken", "Workspaces are still running"),
    "error.member-elsewhere": ("Nog lid van een andere organisatie", "Still a member of another organisation"),
    "why.member-elsewhere": ("de thuismap bevat ook het werk voor die andere organisatie; beëindig dat lidmaatschap "
                             "eerst", "the home folder holds the work for that other organisation too; end that "
                                      "membership first"),
    "error.membership-ended": ("Uw lidmaatschap is beëindigd", "Your membership has ended"),
    "error.handover-unsupported": ("Deze hub kan geen thuismappen overdragen",
                                   "This hub cannot hand over home folders"),
    "error.grants-not-trusted": ("Toegekende rollen komen alleen van de portal",
                                 "Granted roles come from the portal only"),
    "why.grant-ended": ("de toekenning is al ingetrokken of verlopen", "the grant was already revoked or has expired"),
    "why.grant-reason-required": ("schrijf in 3 tot 500 tekens waarom het lid de rol nodig heeft",
                                  "write in 3 to 500 characters why the member needs the role"),
    "why.grant-to-self": ("vraag een andere beheerder van uw organisatie of de beheerders van de identiteitsprovider",
                          "ask another admin of your organisation, or the identity provider's administrators"),
    "why.grant-too-long": ("kies een einddatum binnen een jaar", "choose an end date within a year"),
    "why.handover-of-self": ("een andere beheerder of een platformbeheerder draagt uw werkplekken over",
                             "another admin or a platform admin hands over your workspaces"),
    "why.handover-to-self": ("het vertrekkende lid en de collega moeten twee verschillende mensen zijn",
                             "the leaving member and the colleague must be two different people"),
    "why.invalid-date": ("geef een datum als 2027-03-31, vandaag of later",
                         "give a date like 2027-03-31, today or later"),
    "why.not-a-former-member": ("deze persoon wacht niet op toelating", "this person is not waiting to be re-admitted"),
    "why.not-organisation-member": ("kies een actief lid van deze organisatie",
                                    "choose an active member of this organisation"),
    "why.role-already-held": ("het lid heeft deze rol al, van de identiteitsprovider of een lopende toekenning",
                              "the member already has this role, from the identity provider or a running grant"),
    "why.unknown-grant": ("deze toekenning bestaat niet in deze organisatie", "this grant does not exist in this "
                                                                              "organisation"),
    "why.workspace-running": ("stop eerst de werkplekken van het vertrekkende lid",
                              "stop the leaving member's workspaces first"),
    "why.membership-ended": ("een beheerder van de organisatie heeft uw lidmaatschap beëindigd; vraag een beheerder "
                             "u weer toe te laten",
                             "an admin of the organisation ended your membership; ask an admin to re-admit you"),
    "why.handover-unsupported": ("op deze hub verplaatst een beheerder de thuismappen (zie het draaiboek)",
                                 "on this hub an operator moves home folders (see the runbook)"),
    "why.unknown-role": ("kies een werkplekrol uit de catalogus", "choose a workbench role of the catalogue"),
})


# --- honest sizes, live usage and right-sizing advice (portal/services/usage_view.py; issue 12)
TEXTS.update({
    "error.size-too-large": ("Dit formaat is groter dan de machine", "This size is larger than the machine"),
    "error.running-limit": ("U heeft al het maximum aantal werkplekken actief",
                            "You already have the most workspaces running at once"),
    "why.running-limit": ("stop eerst een van uw actieve werkplekken (Mijn werkplekken) en start deze daarna",
                          "stop one of your running workspaces first (My workspaces), then start this one"),
    "why.size-too-large": ("dit formaat vraagt meer processoren of geheugen dan de machine van de hub heeft; kies "
                           "een kleiner formaat",
                           "this size asks for more CPUs or memory than the hub's machine has; choose a smaller size"),
    "error.limits-failed": ("Het formaat kon niet worden afgedwongen", "The size could not be enforced"),
    "why.limits-failed": ("de hub kon de werkplek niet binnen de grenzen van het formaat starten",
                          "the hub could not start the workspace inside the limits of its size"),
    "sizes.not_here": ("niet beschikbaar hier: vraagt {asked}, deze machine heeft {has}",
                       "not available here: asks for {asked}, this machine has {has}"),
    "sizes.none_fit": ("Geen van de formaten van dit pakket past op de machine van de hub: het kan hier niet starten.",
                       "None of this bundle's sizes fits on the hub's machine: it cannot start here."),
    "sizes.not_enforced": ("Formaten worden op deze machine niet afgedwongen: een werkplek kan meer processor en "
                           "geheugen gebruiken dan zijn formaat, en andere werkplekken vertragen.",
                           "Sizes are not enforced on this machine: a workspace can use more CPU and memory than "
                           "its size, and slow down other workspaces."),
    "sizes.enforced": ("Het formaat wordt afgedwongen: de werkplek krijgt niet meer processor en geheugen dan dat.",
                       "The size is enforced: the workspace gets no more CPU and memory than that."),
    "usage.title": ("Gebruik", "Usage"),
    "usage.cpu": ("Processorgebruik", "CPU use"),
    "usage.memory": ("Geheugengebruik", "Memory use"),
    "usage.now": ("Nu", "Now"),
    "usage.peak": ("Piek", "Peak"),
    "usage.size": ("Formaat", "Size"),
    "usage.uptime": ("Draait al", "Running for"),
    "usage.idle": ("Stopt zonder gebruik over", "Stops when idle in"),
    "usage.idle_note": ("De hub stopt een werkplek die {minutes} minuten niet gebruikt is (hij kijkt elke {every} "
                        "seconden); gebruik telt zodra u in de werkplek iets doet.",
                        "The hub stops a workspace that has not been used for {minutes} minutes (it looks every "
                        "{every} seconds); use counts as soon as you do something in the workspace."),
    "usage.unknown": ("De hub meldt (nog) geen gebruik van deze werkplek.",
                      "The hub reports no usage for this workspace (yet)."),
    "usage.live_note": ("Deze cijfers verversen zichzelf elke paar seconden. Processor in procent van één "
                        "processor.",
                        "These figures refresh every few seconds. CPU in percent of one CPU."),
    "usage.last_run": ("Pieken van de laatste keer dat deze werkplek draaide", "Peaks of this workspace's last run"),
    "advice.title": ("Advies over het formaat", "Right-sizing advice"),
    "advice.larger": ("Uw werkplek kwam dicht bij de grens van {size}. Kies de volgende keer {suggested}.",
                      "Your workspace came close to the limit of {size}. Choose {suggested} next time."),
    "advice.largest": ("Uw werkplek kwam dicht bij de grens van {size}, en dat is al het grootste formaat van dit "
                       "pakket.",
                       "Your workspace came close to the limit of {size}, which is already this bundle's largest "
                       "size."),
    "advice.smaller": ("Uw werkplek gebruikte veel minder dan {size}; {suggested} is genoeg.",
                       "Your workspace used much less than {size}; {suggested} is enough."),
    "advice.fits": ("Het formaat {size} past bij wat deze werkplek gebruikte.",
                    "The size {size} suits what this workspace used."),
    "advice.saving": ("Dat bespaart € {amount} per uur.", "That saves € {amount} per hour."),
    "advice.extra_cost": ("Dat kost € {amount} per uur meer.", "That costs € {amount} per hour more."),
    "advice.no_price": ("Een bedrag volgt zodra de omgeving een contract met prijzen heeft.",
                        "An amount follows once the environment has a contract with prices."),
    "advice.rule": ("Regel: groter bij een piek van 90 % of meer van het geheugen of de processoren; kleiner als een "
                    "kleiner formaat de piek met anderhalf keer ruimte houdt.",
                    "Rule: larger at a peak of 90 % or more of the memory or CPUs; smaller when a smaller size holds "
                    "the peak with half again as headroom."),
})

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
