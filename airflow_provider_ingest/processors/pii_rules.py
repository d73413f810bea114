"""PII rules: what a column's name, type and sample values must look like to be tagged, and the built-in set.

Tags follow OpenMetadata's PII classification and its auto-classification mapping: ``PII.Sensitive``
for data whose disclosure can cause harm (email, person name, card number and CVV, IBAN and bank
account, national ids, passport, driving licence, public IP and MAC address), ``PII.NonSensitive`` for
personal data easily found elsewhere (phone, street address and postal code, birth date, gender,
nationality). A rule whose ``tag`` is None recognises data that is *not* personal although it looks
like it (a VAT number, a bank's routing number, a version string, a private IP address): when it is the
most confident match, the column gets no tag.

Name patterns are matched against the column name as written (any case) and against its *tokenised*
form: camelCase split, accents dropped, lower case, every run of other characters one ``_``
(``KundenVorname`` -> ``kunden_vorname``, ``Prénom`` -> ``prenom``, ``customer-e-mail`` -> ``customer_e_mail``),
so the built-in rules are written on tokens: ``(?:.*_)?nom(?:_.*)?`` is the token ``nom`` anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from airflow_provider_ingest.patterns import NamePatterns, compile_pattern
from airflow_provider_ingest.processors.pii_checks import CHECKS, ValueCheck
from airflow_provider_ingest.processors.pii_names import fold
from airflow_provider_ingest.records import DataType

SENSITIVE = "PII.Sensitive"
NON_SENSITIVE = "PII.NonSensitive"

CheckName = Literal[
    "email",
    "phone",
    "phone_like",
    "credit_card",
    "cvv",
    "iban",
    "bank_code",
    "ip_address",
    "private_ip_address",
    "version",
    "mac_address",
    "ssn",
    "bsn",
    "pesel",
    "personnummer",
    "aadhaar",
    "cpf",
    "nif",
    "codice_fiscale",
    "steuer_id",
    "nir",
    "nino",
    "company_id",
    "document_number",
    "account_number",
    "gender",
    "birth_date",
    "person_name",
    "full_name",
    "name_like",
    "sensitive_in_text",
    "phone_in_text",
]

D = DataType
TEXT = [D.CHAR, D.VARCHAR, D.STRING, D.TEXT, D.MEDIUMTEXT, D.CLOB]
NUMBERS = [D.SMALLINT, D.INT, D.BIGINT, D.NUMBER, D.NUMERIC, D.DECIMAL]
DATES = [D.DATE, D.DATETIME, D.TIMESTAMP, D.TIMESTAMPZ]
LENIENT = 0.85
"""Value confidence of checks that only tell a value *could* be the kind (no check digit, no list)."""
IN_TEXT = 0.7
"""Confidence of personal data found inside free text, whatever the share (it is in the reason): below a
whole-value match, above the default ``min_confidence``."""
NUMBER_SUFFIX = r"(?:_?(?:number|num|nbr|no|nr|nro|numero|nummer|numer|n|id|code))?"

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z]{2,})")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def tokenised(name: str) -> str:
    """A column or table name as lower-case ASCII tokens joined by ``_`` (``custFirstNm`` -> ``cust_first_nm``)."""
    return _NOT_WORD.sub("_", fold(_CAMEL.sub("_", name))).strip("_")


def _alternatives(words: tuple[str, ...]) -> str:
    return "(?:" + "|".join(words) + ")"


def token(*words: str) -> str:
    """The words as whole tokens anywhere: ``token("nom")`` matches ``nom``, ``nom_client``, ``client_nom``."""
    return rf"(?:.*_)?{_alternatives(words)}(?:_.*)?"


def last(*words: str) -> str:
    """The words as the last tokens (a number may follow): ``last("name")`` matches ``buyer_name``, ``name_2``."""
    return rf"(?:.*_)?{_alternatives(words)}(?:_?\d+)?"


def inside(*words: str) -> str:
    """The words anywhere, also inside compounds (``vorname`` in ``kundenvorname``)."""
    return rf".*{_alternatives(words)}.*"


class PiiRule(BaseModel):
    """One kind of personal data; in a workflow file, a changed built-in rule gives only what it changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tag: str | None = Field(
        default=SENSITIVE,
        pattern=r"^[^.]+\..+$",
        description="tag FQN to give: Classification.Tag; null: the data is known not to be personal",
    )
    names: list[str] = Field(default_factory=list, description="whole-name regexes on the column name, any case")
    exclude_names: list[str] = Field(default_factory=list, description="column names this rule never matches")
    tables: list[str] = Field(default_factory=list, description="only in tables whose name matches one; empty: any")
    data_types: list[DataType] = Field(default_factory=list, description="column types it applies to; empty: any")
    confidence: float = Field(default=0.8, ge=0, le=1, description="confidence of a match by name alone")
    values: CheckName | None = Field(default=None, description="built-in check of sample values")
    value_pattern: str | None = Field(default=None, description="or: a whole-value regex sample values must match")
    by_values_alone: bool = Field(default=False, description="samples that pass tag a column whatever its name")
    value_confidence: float = Field(default=0.95, ge=0, le=1, description="confidence when all samples pass")
    match_ratio: float | None = Field(
        default=None, gt=0, le=1, description="share of samples the value check must pass; default: the processor's"
    )
    enabled: bool = True

    @field_validator("names", "exclude_names", "tables")
    @classmethod
    def _names_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            _compiles(pattern)
        return patterns

    @field_validator("value_pattern")
    @classmethod
    def _value_pattern_compiles(cls, pattern: str | None) -> str | None:
        return pattern if pattern is None else _compiles(pattern)

    @model_validator(mode="after")
    def _one_value_check(self) -> PiiRule:
        if self.values is not None and self.value_pattern is not None:
            raise ValueError("give values or value_pattern, not both")
        return self

    def changed_by(self, change: PiiRule) -> PiiRule:
        """This rule with the fields ``change`` sets (from the workflow file) replaced."""
        return self.model_copy(update={name: getattr(change, name) for name in change.model_fields_set})


def _compiles(pattern: str) -> str:
    compile_pattern(pattern, ignore_case=True)  # a PatternError (a ValueError) names what RE2 refuses
    return pattern


def _rule(tag: str | None, names: list[str], **settings: object) -> PiiRule:
    return PiiRule(tag=tag, names=names, **settings)  # type: ignore[arg-type]


PEOPLE_TABLES = token(
    "customers?|clients?|users?|persons?|people|employees?|staff|members?|patients?|contacts?|students?|guests?",
    "passengers?|applicants?|borrowers?|tenants?|subscribers?|drivers?|accounts?_holders?|leads?|candidates?",
    "kunden?|mitarbeiter|personen|person|benutzer|nutzer|patienten|mitglieder|ansprechpartner|kontakte?",
    "utilisateurs?|employes?|salaries?|personnes?|adherents?|eleves?|etudiants?|abonnes?|locataires?",
    "clientes?|usuarios?|empleados?|personas?|pacientes?|socios?|alumnos?|inquilinos?",
    "clienti|utenti|dipendenti|persone|pazienti|soci|studenti|contatti|anagrafica|anagrafiche",
    "funcionarios?|pessoas?|colaboradores?|alunos?|titulares?",
    "klanten|klant|gebruikers?|medewerkers?|leden|relaties|werknemers?",
    "klienci|klient|uzytkownicy|uzytkownik|pracownicy|pracownik|osoby|osoba|pacjenci|czlonkowie",
    "kunder|anvandare|anstallda|personer|patienter|medlemmar|kontakter",
)
"""Tables of people: there a bare ``name`` (``nom``, ``nombre``, ``naam``...) is a person's."""

NAME_WORDS = "name|names|nm|nombre|nombres|nom|nome|naam|namn|navn|nimi"
PERSON_ROLES = (
    "first|last|middle|given|family|maiden|full|legal|nick|sur|fore|birth|christian|preferred|real|person|people"
    "|contact|customer|cust|client|clnt|patient|employee|emp|staff|member|holder|account_?holder|acct_?holder"
    "|card_?holder|recipient|receiver|sender|payee|payer|beneficiary|passenger|guest|buyer|borrower|co_?borrower"
    "|guarantor|applicant|tenant|landlord|insured|policy_?holder|student|pupil|parent|guardian|spouse"
    "|emergency_?contact|next_?of_?kin|billing|bill_?to|shipping|ship_?to|delivery|driver|signatory|signer"
    "|subscriber|attendee|visitor|traveller|traveler|physician|doctor|nurse|teacher|father|mother|requester"
    "|requestor|assignee|reporter|approver|manager|supervisor|agent|rep|sales_?rep|salesperson|consignee"
    "|addressee|claimant|witness|donor|volunteer|candidate|lead|prospect|individual|f|l|m|fst|lst|frst"
)

ID_NAMES: dict[str, list[str]] = {
    "ssn": [token(r"ssn|ssns|ssn_?\d+"), r".*social_?security.*", r".*[a-z]_?ssn"],
    "bsn": [token("bsn|bsn_nummer|burgerservicenummer|burger_service_nummer|sofinummer|sofi_nummer|sofi_nr|sofinr")],
    "pesel": [token("pesel")],
    "personnummer": [inside("personnummer|personnr|personal_identity_number|samordningsnummer|person_nummer")],
    "aadhaar": [inside("aadhaa?r|adhaa?r|aadhar"), token("uidai|uid_number|uid_no")],
    "cpf": [token("cpf")],
    "nif": [token("nif|nie|dni|nif_nie|dni_nie|nif_dni|numero_dni|num_dni|nro_dni|numero_nif|num_nif|nif_nie_dni")],
    "codice_fiscale": [inside("codice_?fiscale|cod_?fiscale|codfisc|cod_fisc")],
    "steuer_id": [
        inside("steuer_?id|steueridentifikationsnummer|steuer_identifikationsnummer|steuer_?idnr"),
        token("idnr"),
    ],
    "nir": [token("nir|insee|numero_insee|numero_securite_sociale|num_securite_sociale|num_secu|numero_secu|no_secu")],
    "nino": [token("nino|ni_number|ni_no|ni_num|ni_nr|national_insurance|national_insurance_number|nat_ins_no")],
}
"""Names of the national ids with a check; the generic ``national_id`` rule matches them too, so a column
named for one is tagged even when its values fail the check (test data, masked digits)."""

BUILTIN_RULES: dict[str, PiiRule] = {
    "email": _rule(
        SENSITIVE,
        [
            r".*e_?mail.*",
            r".*courriel.*",
            token("mail", "mails", "mel", "correo", "correio", "pec", "e_?post", "e_?postadress", "mailadres"),
            r".*mail_?(?:adres|adresse|adress|adresa|indirizzo|endereco|direccion)",
        ],
        exclude_names=[
            r".*(?:e_?mail|mail|courriel|correo)s?_?(?:verified|verification|confirmed|opt_?in|opt_?out|sent|count"
            r"|status|type|enabled|domain|template|subject|body|campaign|frequency|preference|preferences|format"
            r"|bounced?|opened|clicked|valid|validated|flag|consent|marketing|allowed|date|at|on|time|ts|hash"
            r"|md5|sha\d*|length|provider|server|host|queue|log|sent_at|notifications?|unsubscribed?|is_.*)",
            r"(?:is|has|can|allow|send|sent|num|n|count|total)_.*",
            r".*mailing.*",
        ],
        data_types=TEXT,
        confidence=0.9,
        values="email",
        by_values_alone=True,
    ),
    "person_name": _rule(
        SENSITIVE,
        [
            rf"(?:.*_)?(?:{PERSON_ROLES})_?(?:name|nm|names)(?:_?\d+)?",
            last("surname|surnames|forename|forenames|givenname|familyname|fullname|maidenname|nickname|fname|lname"),
            last("mname|name_(?:first|last|full|given|family|middle)|nm_(?:first|last|full)"),
            inside("vorname|nachname|familienname|geburtsname|rufname|zuname|vollstandiger_name|kundenname"),
            inside("mitarbeitername|patientenname|ansprechpartner|kontoinhaber|karteninhaber|inhabername"),
            token("prenom|prenoms|nom_de_famille|nom_famille|nom_complet|nom_prenom|prenom_nom|nom_client"),
            token("nom_usage|nom_naissance|nom_jeune_fille|nom_patient|nom_employe|nom_titulaire|titulaire"),
            token("nom_contact|nom_beneficiaire|beneficiaire|destinataire|nom_destinataire|nom_et_prenom"),
            token("nombre_completo|nombres|apellido|apellidos|primer_apellido|segundo_apellido|apellido_paterno"),
            token("apellido_materno|nombre_cliente|nombre_titular|titular|nombre_y_apellidos?|nombre_apellidos?"),
            token("nombre_contacto|nombre_empleado|nombre_paciente|destinatario|remitente|nombre_pila"),
            token("cognome|nome_completo|nominativo|intestatario|nome_cognome|cognome_nome|nome_e_cognome"),
            token("nome_cliente|nome_dipendente|nome_paziente|nome_contatto|nome_titolare"),
            token("sobrenome|apelido|primeiro_nome|ultimo_nome|nome_titular|nome_social|nome_mae|nome_pai"),
            token("nome_do_cliente|nome_funcionario|nome_colaborador|nome_conjuge"),
            token(
                "nom_(?:pere|mere|epoux|epouse|conjoint)|nombre_(?:padre|madre|conyuge)|nome_(?:padre|madre|coniuge)"
            ),
            r"(?:.*_)?(?:contact|sales|responsible|reference|emergency)_?persons?|(?:.*_)?recipients?",
            rf"(?:.*_)?(?:name|names)_of_(?:the_)?(?:{PERSON_ROLES})(?:_.*)?",
            inside("voornaam|achternaam|tussenvoegsel|roepnaam|geslachtsnaam|klantnaam|volledige_naam"),
            inside("rekeninghouder|voorletters|meisjesnaam"),
            token("imie|imiona|nazwisko|imie_nazwisko|imie_i_nazwisko|nazwisko_imie|drugie_imie"),
            token("nazwisko_panienskie|wlasciciel_konta|odbiorca|nadawca"),
            inside("fornamn|efternamn|tilltalsnamn|mellannamn|fullstandigt_namn|kundnamn|kontoinnehavare"),
        ],
        exclude_names=[r".*(?:file|table|column|host|domain|server|schema|field|bucket|key|class)_?names?.*"],
        data_types=TEXT,
        values="name_like",
        value_confidence=LENIENT,
    ),
    "person_name_in_people_table": _rule(
        SENSITIVE,
        [rf"(?:{NAME_WORDS}|full_name|complete_name|display_name)(?:_?\d+)?"],
        tables=[PEOPLE_TABLES],
        data_types=TEXT,
        confidence=0.75,
        values="name_like",
        value_confidence=LENIENT,
    ),
    "person_name_open": _rule(
        SENSITIVE,
        [rf"(?:.*_)?(?:{NAME_WORDS})(?:_?\d+)?", r".*[a-z]name"],
        exclude_names=[
            r"(?:.*_)?(?:product|prod|item|article|artikel|produkt|produit|producto|prodotto|produto|sku|company"
            r"|comp|firm|firma|business|biz|org|organisation|organization|entreprise|empresa|azienda|bedrijf|brand"
            r"|marke|marque|marca|merk|store|shop|branch|city|town|ort|stadt|ville|ciudad|citta|cidade|stad|miasto"
            r"|country|land|pays|pais|paese|state|province|region|county|district|street|strasse|rue|calle|rua"
            r"|straat|ulica|file|table|column|field|schema|db|database|host|server|domain|app|application|service"
            r"|device|model|category|tag|event|campaign|project|plan|course|team|department|dept|bank|merchant"
            r"|vendor|supplier|seller|carrier|airline|hotel|school|university|hospital|site|page|report|job|task"
            r"|queue|topic|index|key|type|class|group|role|status|stage|step|feature|attribute|param|parameter"
            r"|property|metric|dimension|layer|font|color|colour|currency|language|lang|locale|timezone|channel"
            r"|source|platform|os|browser|network|bucket|folder|dir|path|image|template|theme|menu|module|package"
            r"|library|plugin|sheet|dataset|cluster|zone|warehouse|location|venue|building|room|game|league|species"
            r"|breed|pet|drug|medication|disease|diagnosis|test|fund|asset|ticker|coin|token|wallet|contract|policy"
            r"|tier|level|grade|title|position|data|display|user|usr|login|screen|nick|account|acct|short|long)"
            r"_?(?:name|names|nm|nombre|nom|nome|naam|namn)(?:_?\d+)?",
            r".*(?:file|host|table|user|path|domain|server|schema|column|class|type|key|node)name",
        ],
        data_types=TEXT,
        confidence=0.45,
        values="person_name",
        value_confidence=0.9,
    ),
    "person_name_values": _rule(
        SENSITIVE, [], data_types=TEXT, values="full_name", by_values_alone=True, value_confidence=0.7
    ),
    "username": _rule(
        SENSITIVE,
        [
            last("user_?name|usr_?nm|user_nm|usrname|login|login_name|logon|logon_name|display_name|displayname"),
            last("screen_name|screenname|nickname|nick|benutzername|anmeldename|nom_utilisateur|nom_d_utilisateur"),
            last("pseudo|pseudonyme|nombre_usuario|nombre_de_usuario|nome_utente|nome_usuario|nome_de_usuario"),
            last("gebruikersnaam|nazwa_uzytkownika|login_uzytkownika|anvandarnamn"),
        ],
        exclude_names=[r"(?:.*_)?(?:last|first|failed|recent|previous|prev)_(?:login|logon)"],
        data_types=TEXT,
    ),
    "credit_card": _rule(
        SENSITIVE,
        [
            r".*(?:credit|debit)_?card.*",
            r".*card_?(?:number|num|nbr|no|nr)",
            r"(?:.*_)?cc_?(?:number|num|nbr|no|nr)",
            token("pan|ccn|ccnum|card_pan|pan_number|pan_no"),
            inside("kreditkart|kartennummer|carte_bancaire|numero_carte|num_carte|no_carte|carte_credit"),
            inside("tarjeta|carta_di_credito|carta_credito|numero_carta|cartao|kaartnummer|creditcard"),
            inside("numer_karty|karta_kredytowa|kortnummer|kreditkort|bankkort"),
        ],
        exclude_names=[
            r".*(?:card|carte|tarjeta|carta|cartao|karte|karty|kort)_?(?:type|typ|tipo|brand|marque|marca|network"
            r"|expir.*|exp|holder.*|last_?(?:4|four)|last4|count|fee|limit|issuer|token|id|bin|country|status"
            r"|valid.*|fingerprint|hash|masked|mask|present|on_file)",
            r"(?:is|has)_.*",
        ],
        data_types=TEXT + NUMBERS,
        confidence=0.9,
        values="credit_card",
        by_values_alone=True,
    ),
    "cvv": _rule(
        SENSITIVE,
        [
            token("cvv|cvv2|cvc|cvc2|csc|cvn|card_?security_?code|security_?code|card_?verification(?:_value|_code)?"),
            inside("kartenpruefnummer|kartenprufnummer|cryptogramme|code_securite|codigo_seguridad|cod_seguridad"),
            inside("codice_sicurezza|codigo_seguranca|kod_cvv|kod_bezpieczenstwa|sakerhetskod|beveiligingscode"),
        ],
        data_types=TEXT + NUMBERS,
        confidence=0.85,
        values="cvv",
        value_confidence=LENIENT,
    ),
    "iban": _rule(
        SENSITIVE,
        [r".*iban.*"],
        exclude_names=[
            r".*iban_?(?:verified|valid|validated|status|type|country|check|checked|flag|confirmed|count|length)",
            r"(?:is|has)_.*",
        ],
        data_types=TEXT,
        confidence=0.9,
        values="iban",
        by_values_alone=True,
    ),
    "bank_account": _rule(
        SENSITIVE,
        [
            r".*bank_?(?:account|acct|acc|konto|rekening|conto|cuenta|conta)" + NUMBER_SUFFIX,
            r"(?:.*_)?(?:account|acct|acc|a_c)_?(?:number|num|nbr|no|nr)",
            token("kontonummer|kontonr|konto_nr|kto_nr|ktonr|bankkonto|bankkontonummer"),
            token("numero_compte|num_compte|no_compte|n_compte|compte_bancaire|rib"),
            token("numero_cuenta|num_cuenta|nro_cuenta|no_cuenta|cuenta_bancaria|numero_de_cuenta"),
            token("numero_conto|conto_corrente|num_conto|nr_conto|numero_conta|num_conta|conta_bancaria"),
            token("conta_corrente|rekeningnummer|rekening_nr|rekeningnr|bankrekening|rekeningnummer"),
            token("numer_konta|nr_konta|numer_rachunku|nr_rachunku|rachunek_bankowy|rachunek|konto_bankowe"),
            inside("bankverbindung|bankdaten|bank_details|coordonnees_bancaires|datos_bancarios|dati_bancari"),
            inside("dados_bancarios|bankgegevens|dane_bankowe|bankuppgifter"),
        ],
        exclude_names=[r".*(?:routing|sort_?code|bic|swift|blz|clearing|aba).*"],
        data_types=TEXT + NUMBERS,
        values="account_number",
        value_confidence=LENIENT,
    ),
    "bank_code": _rule(
        None,
        [
            token("routing|routing_number|routing_no|rtn|aba|aba_number|aba_routing|transit_number|sort_code"),
            token("sortcode|bic|swift|swift_code|swift_bic|bic_code|bank_code|bankcode|blz|bankleitzahl"),
            token("code_banque|code_guichet|codigo_banco|codigo_entidad|clearing|clearing_number|clearingnummer"),
        ],
        data_types=TEXT + NUMBERS,
        values="bank_code",
        by_values_alone=True,
    ),
    "ssn": _rule(
        SENSITIVE,
        ID_NAMES["ssn"],
        data_types=TEXT + NUMBERS,
        confidence=0.9,
        values="ssn",
        by_values_alone=True,
    ),
    "bsn": _rule(
        SENSITIVE,
        ID_NAMES["bsn"],
        data_types=TEXT + NUMBERS,
        confidence=0.9,
        values="bsn",
        by_values_alone=True,
    ),
    "pesel": _rule(
        SENSITIVE, ID_NAMES["pesel"], data_types=TEXT + NUMBERS, confidence=0.9, values="pesel", by_values_alone=True
    ),
    "personnummer": _rule(
        SENSITIVE,
        ID_NAMES["personnummer"],
        data_types=TEXT + NUMBERS,
        confidence=0.9,
        values="personnummer",
        by_values_alone=True,
    ),
    "aadhaar": _rule(
        SENSITIVE,
        ID_NAMES["aadhaar"],
        data_types=TEXT + NUMBERS,
        confidence=0.9,
        values="aadhaar",
        by_values_alone=True,
    ),
    "cpf": _rule(
        SENSITIVE, ID_NAMES["cpf"], data_types=TEXT + NUMBERS, confidence=0.9, values="cpf", by_values_alone=True
    ),
    "nif": _rule(
        SENSITIVE,
        ID_NAMES["nif"],
        exclude_names=[r".*(?:iva|empresa|company|vat).*"],
        data_types=TEXT + NUMBERS,
        confidence=0.9,
        values="nif",
        by_values_alone=True,
    ),
    "codice_fiscale": _rule(
        SENSITIVE,
        ID_NAMES["codice_fiscale"],
        data_types=TEXT,
        confidence=0.9,
        values="codice_fiscale",
        by_values_alone=True,
    ),
    "steuer_id": _rule(
        SENSITIVE,
        ID_NAMES["steuer_id"],
        data_types=TEXT + NUMBERS,
        confidence=0.9,
        values="steuer_id",
        by_values_alone=True,
    ),
    "nir": _rule(
        SENSITIVE,
        ID_NAMES["nir"],
        data_types=TEXT + NUMBERS,
        confidence=0.9,
        values="nir",
        by_values_alone=True,
    ),
    "nino": _rule(
        SENSITIVE,
        ID_NAMES["nino"],
        data_types=TEXT,
        confidence=0.9,
        values="nino",
        by_values_alone=True,
    ),
    "national_id": _rule(
        SENSITIVE,
        [
            r".*national_?(?:id|identity|identification|number|no|num).*",
            r".*(?:tax|fiscal|taxpayer)_?(?:id|code|ident|identifier|identification)" + NUMBER_SUFFIX,
            r"(?:.*_)?(?:tax|taxpayer)_?(?:number|num|nbr|no|nr)",
            token("tin|itin|tin_number"),
            r".*identity_?(?:card|number|no|num|document|doc).*",
            token("id_?card|idcard|id_?document|id_doc_number|id_document_number|identification_number"),
            r"(?:.*_)?(?:personal|citizen|resident|person)_?(?:id|number|no|code|identity_number|id_number)",
            r"(?:.*_)?(?:document|doc)_?(?:number|no|num|nr|nbr)",
            inside("personalausweis|ausweisnummer|ausweis_nr|identitaetskarte|sozialversicherungs_?nummer"),
            inside("rentenversicherungs_?nummer|krankenversicherungs_?nummer|versichertennummer|steuernummer"),
            token("svnr|sv_nr|sv_nummer|rvnr|kvnr|steuer_nr|stnr"),
            inside("carte_?d_?identite|carte_identite|piece_identite|numero_fiscal"),
            token("cni|numero_cni"),
            inside("documento_?identidad|numero_?documento|num_?documento|nro_?documento|cedula|numero_identificacion"),
            inside("seguridad_social|tarjeta_sanitaria"),
            token("num_doc|nro_doc|nuss|naf"),
            inside("carta_?d_?identita|carta_identita|documento_identita|tessera_sanitaria"),
            inside("identidade|carteira_identidade|cartao_cidadao|cartao_de_cidadao"),
            token("rg|numero_rg|nis|pis|pis_pasep|cns"),
            inside("identiteitskaart|identiteitsbewijs|id_kaart|legitimatie|documentnummer"),
            inside("dowod_osobisty|numer_dowodu|nr_dowodu|seria_dowodu|dowodu"),
            inside("identitetskort|legitimation|id_kort|idkort"),
            token("nhs_number|nhs_no|nhs_num|medicare|medicaid|mrn|medical_record_number"),
            r"(?:.*_)?health_?insurance_?(?:number|no|id|num)",
            r"(?:.*_)?insurance_?(?:number|no|num)",
            *(pattern for names in ID_NAMES.values() for pattern in names),
        ],
        exclude_names=[
            r".*(?:vat|ust|tva|iva|btw|moms|gst).*",
            r"(?:.*_)?(?:company|business|employer|corporate|firm|vendor|supplier|merchant|seller|org"
            r"|organization|organisation|entity)_?(?:tax|fiscal)_?.*",
            r".*(?:document|doc)_?(?:type|date|status|count|url|path|file).*",
            r".*(?:empresa|company|entreprise|azienda|bedrijf|firma|firmy|foretag|societe|sociedad|societa).*",
        ],
        data_types=TEXT + NUMBERS,
        values="document_number",
        value_confidence=LENIENT,
    ),
    "passport": _rule(
        SENSITIVE,
        [
            inside("passport|passeport|pasaporte|passaporto|passaporte|paspoort|paszport|reisepass"),
            token("pp_?(?:no|num|number|nr|nbr)|passnummer|pass_nr|passnr|pass_no|passport_no"),
        ],
        exclude_names=[
            r".*(?:passport|passeport|pasaporte|passaporto|paspoort|paszport)_?(?:expir.*|country|issued?.*|date|type|photo|scan|url)"
        ],
        data_types=TEXT + NUMBERS,
        confidence=0.85,
        values="document_number",
        value_confidence=LENIENT,
    ),
    "driver_license": _rule(
        SENSITIVE,
        [
            inside(r"driv(?:er|ers|ing)_?licen[cs]e|drivers?_?lic|driving_?lic|fuehrerschein|fuhrerschein"),
            inside("permis_?(?:de_)?conduire|licencia_?(?:de_)?conducir|carnet_?(?:de_)?conducir"),
            inside("permiso_?(?:de_)?conducir|patente_?(?:di_)?guida|carta_?(?:de_)?conducao"),
            inside("carteira_?(?:de_)?motorista|rijbewijs|prawo_?jazdy|korkort"),
            token("dl_?(?:no|num|number|nr|nbr|id)|dl|dln|cnh"),
        ],
        exclude_names=[
            r".*(?:licen[cs]e|lic|schein|permis|licencia|rijbewijs|korkort)_?(?:expir.*|class|type|state|country|issued?.*|date|category)"
        ],
        data_types=TEXT + NUMBERS,
        values="document_number",
        value_confidence=LENIENT,
    ),
    "ip_address": _rule(
        SENSITIVE,
        [
            r".*ip_?addr(?:ess)?.*",
            token("ip|ipv4|ipv6|ipaddr|ipaddress|ip_adres|ip_adresse|ip_adress|ip_indirizzo"),
            r"(?:.*_)?(?:adresse|direccion|indirizzo|endereco|adres)_ip",
            r".*_ip",
        ],
        exclude_names=[
            r".*ip_?(?:country|city|region|geo|location|lat|latitude|lon|longitude|asn|isp|org|type|version|count"
            r"|range|block|allowlist|whitelist|blocklist|blacklist|hash|risk|score|reputation|pool|prefix|mask)",
            r"(?:.*_)?(?:server|host|node|gateway|gw|router|internal|private|local|lan|nat|dns|proxy|vpc|subnet"
            r"|cluster|pod|container|vm|instance|bind|listen|master|replica|db|database|machine|vip|lb|switch"
            r"|printer|camera|nas|smtp|ftp|ntp|dhcp|ap|access_point|controller|service|svc|k8s|docker)_?ip.*",
            r"(?:is|has)_.*",
        ],
        data_types=[*TEXT, D.INET, D.CIDR],
        confidence=0.85,
        values="ip_address",
        by_values_alone=True,
    ),
    "private_ip_address": _rule(
        None, [], data_types=[*TEXT, D.INET, D.CIDR], values="private_ip_address", by_values_alone=True
    ),
    "version": _rule(
        None,
        [
            token(
                "version|versions|ver|vers|release|build|revision|rev|firmware|fw|semver|versao|versione|wersja|versie"
            )
        ],
        data_types=TEXT,
        values="version",
        by_values_alone=True,
    ),
    "mac_address": _rule(
        SENSITIVE,
        [
            token("mac|mac_address|mac_addr|macaddr|macaddress|hw_address|hwaddr|hw_addr|hardware_address|bssid"),
            r"(?:.*_)?(?:adresse|direccion|indirizzo|endereco|adres)_mac",
            token("mac_adres|mac_adresse|mac_adress|wifi_mac|bluetooth_mac|bt_mac"),
        ],
        exclude_names=[r".*mac_?(?:os|osx|version|model|book|pro|mini|count|vendor|type)"],
        data_types=[*TEXT, D.MACADDR],
        confidence=0.85,
        values="mac_address",
        by_values_alone=True,
    ),
    "company_id": _rule(
        None,
        [
            token("vat|vat_id|vat_no|vat_number|vat_nr|vatin|vat_reg|vat_registration|vat_code|vat_num"),
            r"(?:.*_)?vat_?reg(?:istration)?_?(?:no|number|num|nr)",
            inside("ust_?id|ust_?idnr|ustid|umsatzsteuer|tva_?intra"),
            token("ust_nr|tva|numero_tva|num_tva|n_tva|no_tva|iva|partita_iva|p_iva|piva|nif_iva|cif|nif_empresa"),
            token("btw|btw_nummer|btw_nr|btw_id|btwnummer|nip|nip_ue|moms|momsnr|moms_nr|momsregistreringsnummer"),
            token("gst|gstin|gst_number|gst_no|cnpj|siren|siret|kvk|kvk_nummer|kvk_number|regon|krs|orgnr|org_nr"),
            token("organisationsnummer|organisation_number|organization_number|company_number|company_reg_no"),
            r"(?:.*_)?(?:company|business|employer|corporate|firm|vendor|supplier|merchant|seller|org|organization"
            r"|organisation|entity)_?(?:tax|fiscal|vat)_?(?:id|number|no|nr|code|num)?",
            token("ein|fein|duns|lei|handelsregister|handelsregisternummer|hrb|registro_imprese"),
        ],
        data_types=TEXT + NUMBERS,
        values="company_id",
        by_values_alone=True,
    ),
    "phone": _rule(
        NON_SENSITIVE,
        [
            inside("phone|telefon|telefoon|msisdn|rufnummer|mobilnummer|mobilnr"),
            token("mobile.*|mobil.*|movil|handy|cellulare|celular|cell|cellphone|portable|gsm|komorka|fax.*"),
            token("tel|tlf|tfno|tlfn|tel_no|tel_nr|tel_num|telf|tfn|fon|numero_tel|num_tel|tel_fixe|tel_portable"),
        ],
        exclude_names=[
            r".*(?:phone|mobile|mobil|telefon\w*|telefoon|handy|fax|tel|cell)_?(?:verified|verification|confirmed"
            r"|type|typ|tipo|count|model|os|brand|make|app|device|carrier|provider|operator|country|country_code"
            r"|prefix|area_code|opt_?in|consent|flag|status|active|valid|ext|extension|sent|at|date)",
            r"(?:is|has|num|n|count|total|avg)_.*",
            r".*(?:mobile|mobil)_?(?:app|web|site|version|platform|payment|banking|game)s?",
        ],
        data_types=TEXT + NUMBERS,
        values="phone_like",
        value_confidence=LENIENT,
    ),
    "phone_number_values": _rule(NON_SENSITIVE, [], data_types=TEXT, values="phone", by_values_alone=True),
    "address": _rule(
        NON_SENSITIVE,
        [
            r".*(?:street|address|addr_?line|house_?(?:number|num|no|nr)).*",
            r".*(?:postal|post|zip)_?code.*",
            token(
                r"zip\d*|zipcode|postcode|postal|plz|cep|postnr|addr\d*|adr\d*|anschrift|rue|calle|rua|strasse|straat"
            ),
            token("gata|gatan|gatuadress"),
            inside("strasse|adresse|adres|direccion|indirizzo|endereco|adresa|adress|hausnummer|hausnr"),
            inside("huisnummer|numero_civico|nr_domu|numer_domu|postleitzahl|code_postal|codigo_postal"),
            inside("codice_postale|postnummer|kod_pocztowy|gatuadress|domicilio|wohnanschrift|logradouro|ulica"),
            r"cap|cp|c_p",
        ],
        exclude_names=[
            r".*(?:ip|e_?mail|mail|mac|web|url|wallet|contract|memory|remote|server|host|courriel|correo|internet"
            r"|net|ethereum|eth|btc|crypto|bitcoin|blockchain|mem|hw|hardware|bluetooth|bt|wifi)_?(?:addr|address"
            r"|addresses|adresse|adres|adress|direccion|indirizzo|endereco|adresa).*",
            r".*(?:adresse|adres|adress|direccion|indirizzo|endereco|address)_?(?:ip|mac|e_?mail|mail|electronique"
            r"|electronica|elettronica|eletronico|web|url|courriel|internet)(?:_.*)?",
            r".*address_?(?:type|id|count|verified|status|validated|valid)",
            r"(?:is|has)_.*",
        ],
        data_types=TEXT + NUMBERS,
        confidence=0.7,
    ),
    "birth_date": _rule(
        NON_SENSITIVE,
        [
            inside("birth|geburt|naissance|nacimiento|nascita|nascimento|geboorte|urodzenia|fodelse|fodsel"),
            r"(?:.*_)?dob(?:_.*)?",
            r"born_?(?:on|at|date)",
            token("bday|birthday|gebdat|geb_dat|geb_datum|f_nac|fec_nac|fecha_nac|dt_nasc|data_nasc|dt_nascita"),
        ],
        exclude_names=[
            r".*(?:birth|geburt|naissance|nacimiento|nascita|nascimento|geboorte|urodzenia|fodelse|fodsel).*"
            r"(?:place|country|city|town|name|ort|land|stadt|lieu|ville|pays|lugar|ciudad|pais|luogo|citta|paese"
            r"|local|cidade|plaats|stad|miejsce|kraj|orten|weight|gewicht|poids|peso|order|rank|count|nation).*",
            r".*(?:place|lieu|lugar|luogo|local|plaats|miejsce|country|city|pays|pais|paese).*(?:birth|naissance"
            r"|nacimiento|nascita|nascimento|geboorte|urodzenia).*",
        ],
        data_types=TEXT + DATES,
        confidence=0.85,
        values="birth_date",
    ),
    "gender": _rule(
        NON_SENSITIVE,
        [token("gender|sex|geschlecht|sexe|sexo|genero|sesso|geslacht|plec|kon|kjonn|civilite|anrede|salutation")],
        exclude_names=[r".*(?:sex|gender)_?(?:offender|ratio|neutral).*"],
        confidence=0.7,
        values="gender",
        value_confidence=LENIENT,
    ),
    "gender_ambiguous": _rule(
        NON_SENSITIVE,
        [token("genre|genere")],
        data_types=TEXT,
        confidence=0.45,
        values="gender",
        value_confidence=LENIENT,
    ),
    "special_category": _rule(
        SENSITIVE,
        [
            token("religion|religious_affiliation|religione|religiao|religie|religia|konfession|confession|faith"),
            token("race|racial_origin|ethnic_origin|sexual_orientation|orientation_sexuelle|orientacion_sexual"),
            token("political_(?:party|affiliation|opinion|views)|trade_union|union_membership|gewerkschaft"),
            token("diagnosis|diagnose|diagnostic|diagnostico|diagnosi|medical_condition|health_condition"),
            token("disability|behinderung|handicap|discapacidad|disabilita|deficiencia|blood_type|blutgruppe"),
            token("biometric|biometrics|fingerprint|genetic_data"),
        ],
        exclude_names=[r".*(?:count|id|code_id|type_id|date|at|flag)"],
        confidence=0.7,
    ),
    "nationality": _rule(
        NON_SENSITIVE,
        [
            inside("nationality|citizenship|ethnicity|staatsangehoerigkeit|staatsangehorigkeit|nationalitaet"),
            inside("nationalitat|nationalite|nacionalidad|nazionalita|cittadinanza|nacionalidade|cidadania"),
            inside("nationaliteit|obywatelstwo|narodowosc|medborgarskap|nationalitet"),
        ],
        confidence=0.7,
    ),
    "pii_in_text": _rule(
        SENSITIVE,
        [],
        data_types=TEXT,
        values="sensitive_in_text",
        by_values_alone=True,
        value_confidence=IN_TEXT,
        match_ratio=0.1,
    ),
    "phone_in_text": _rule(
        NON_SENSITIVE,
        [],
        data_types=TEXT,
        values="phone_in_text",
        by_values_alone=True,
        value_confidence=IN_TEXT,
        match_ratio=0.1,
    ),
}
"""The built-in rules, by name; a workflow file changes, disables or adds to them."""


@dataclass(frozen=True, eq=False)
class CompiledRule:
    """A rule ready to match: name patterns compiled, types as a set, the value check ready to call."""

    name: str
    rule: PiiRule
    patterns: NamePatterns
    tables: NamePatterns | None
    types: frozenset[DataType]
    check: Callable[[str], object] | None
    value_check: ValueCheck | None

    @classmethod
    def of(cls, name: str, rule: PiiRule) -> CompiledRule:
        value_check = CHECKS[rule.values] if rule.values else None
        check = value_check.test if value_check else None
        if rule.value_pattern is not None:
            check = compile_pattern(rule.value_pattern).fullmatch
        patterns = NamePatterns(include=rule.names, exclude=rule.exclude_names, ignore_case=True)
        tables = NamePatterns(include=rule.tables, ignore_case=True) if rule.tables else None
        return cls(name, rule, patterns, tables, frozenset(rule.data_types), check, value_check)

    def fits(self, data_type: DataType) -> bool:
        """Whether the rule applies to columns of this type."""
        return not self.types or data_type in self.types

    @property
    def check_name(self) -> str:
        """How reasons name the value check."""
        return self.rule.values or "value_pattern"


def effective_rules(changes: dict[str, PiiRule], *, builtin: bool = True) -> dict[str, PiiRule]:
    """The built-in rules (unless ``builtin`` is off) changed and extended by ``changes``; disabled ones left out."""
    rules = dict(BUILTIN_RULES) if builtin else {}
    for name, change in changes.items():
        rules[name] = rules[name].changed_by(change) if name in rules else change
    return {name: rule for name, rule in rules.items() if rule.enabled}
