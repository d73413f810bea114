"""A labelled set of columns for measuring the ``pii`` processor: generated, deterministic, 12 locales.

Tables of customers, employees, payments, products, suppliers, devices and support tickets are made for
each locale with Faker (a fixed seed), their columns named the way schemas in that language name them
(snake_case, camelCase, PascalCase or upper case; English names in every locale too; abbreviations),
each with 20 distinct sample values as the ``sql`` source gives them (text; dates in ISO format).

The label rules (what a privacy officer would tag), see also ``bench/README.md``:

- ``PII.Sensitive``: a person's name (given, family, full, user or display name), email address,
  national identifier or personal tax number, passport or driving licence number, payment card number,
  card security code, IBAN or bank account number, public IP address, MAC address; free text in which
  such data (emails, card numbers, IBANs) turns up.
- ``PII.NonSensitive``: phone number, street address, postal code, date of birth, gender, nationality;
  free text in which phone numbers (and no sensitive data) turn up.
- Not personal (no tag): keys and codes, amounts, other dates, statuses, product and company names,
  cities and countries alone, job titles, VAT numbers and other company ids (also in a ``buyer_tax_id``),
  bank routing numbers and BIC codes, versions, private-range IP addresses (also in an ``ip_address``
  column), host names and URLs, free text without personal data.

A label depends on what the values are, never on what the processor does: a column of card numbers
named ``attr_3`` is ``PII.Sensitive``, though no rule can know it by name.
"""

from __future__ import annotations

import datetime
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from faker import Faker

from airflow_provider_ingest.records import Column, DataType, Table

S, N = "PII.Sensitive", "PII.NonSensitive"
SEED = 20
SAMPLES = 20
LOCALES = {
    "en_US": "en",
    "en_GB": "en",
    "en_IN": "en",
    "de_DE": "de",
    "fr_FR": "fr",
    "es_ES": "es",
    "it_IT": "it",
    "pt_BR": "pt",
    "pt_PT": "pt",
    "nl_NL": "nl",
    "pl_PL": "pl",
    "sv_SE": "sv",
}


@dataclass(frozen=True)
class Labelled:
    """A column with its label and where it came from."""

    locale: str
    table: str
    column: Column
    label: str | None
    kind: str


Gen = Callable[[Faker, random.Random], str]


@dataclass(frozen=True)
class Kind:
    """A kind of column: its label, how its values are made, what it is called in each language."""

    label: str | None
    values: Gen
    names: dict[str, list[str]]
    data_type: DataType = DataType.VARCHAR


def digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(count))


# -- generators of ids the Faker locales do not make -----------------------------------------------------


def steuer_id(fake: Faker, rng: random.Random) -> str:
    """A German Steuer-ID: one digit twice in the first ten (not three in a row), ISO 7064 check digit."""
    while True:
        body = [rng.choice("123456789")] + [rng.choice(string.digits) for _ in range(9)]
        counts = sorted((body.count(d) for d in set(body)), reverse=True)
        if counts[0] == 2 and (len(counts) < 2 or counts[1] == 1):
            break
    product = 10
    for char in body:
        total = (int(char) + product) % 10 or 10
        product = 2 * total % 11
    return "".join(body) + str((11 - product) % 10)


def pt_nif(fake: Faker, rng: random.Random) -> str:
    """A Portuguese NIF of a person: 1 or 2 first, mod-11 check digit."""
    body = rng.choice("12") + digits(rng, 7)
    check = 11 - sum(int(d) * w for d, w in zip(body, range(9, 1, -1), strict=True)) % 11
    return body + str(0 if check >= 10 else check)


def luhn_digit(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def driver_licence(fake: Faker, rng: random.Random) -> str:
    pattern = rng.choice(["?#######", "?###-####-####", "########", "??######?", "#?#####"])
    return "".join(
        rng.choice(string.ascii_uppercase) if c == "?" else rng.choice(string.digits) if c == "#" else c
        for c in pattern
    )


def passport(fake: Faker, rng: random.Random) -> str:
    pattern = rng.choice(["?########", "??#######", "#########", "?##?##?##"])
    return "".join(rng.choice("CFGHJKLMNPRTVWXYZ") if c == "?" else rng.choice(string.digits) for c in pattern)


def birth_date(fake: Faker, rng: random.Random, style: str = "iso") -> str:
    date = fake.date_of_birth(minimum_age=18, maximum_age=90)
    return {"iso": date.isoformat(), "dot": date.strftime("%d.%m.%Y"), "slash": date.strftime("%d/%m/%Y")}[style]


def version(fake: Faker, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return ".".join(str(rng.randint(0, 30)) for _ in range(4))
    return f"{rng.randint(0, 12)}.{rng.randint(0, 40)}.{rng.randint(0, 99)}" + rng.choice(["", "", "-beta", "-rc1"])


def product(fake: Faker, rng: random.Random) -> str:
    adjective = rng.choice(["Deluxe", "Compact", "Classic", "Smart", "Ergonomic", "Premium", "Mini", "Ultra", "Eco"])
    noun = rng.choice(["Kettle", "Chair", "Lamp", "Blender", "Backpack", "Desk", "Speaker", "Toaster", "Mug", "Drill"])
    return f"{adjective} {noun} {rng.choice(['', 'Pro', 'XL', '2000', 'Plus'])}".strip()


def text_with(insert: Callable[[Faker, random.Random], str], share: float) -> Gen:
    """Free text, ``share`` of it with something inserted (an email, a phone...)."""

    def make(fake: Faker, rng: random.Random) -> str:
        sentence = fake.sentence(nb_words=rng.randint(5, 10))
        if rng.random() < share:
            words = sentence.split()
            words.insert(rng.randint(1, len(words)), insert(fake, rng))
            return " ".join(words)
        return sentence

    return make


def email_or_card_or_iban(fake: Faker, rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.5:
        return rng.choice(["mail:", "contact", "->", "email"]) + " " + fake.email()
    if choice < 0.75:
        return "card " + fake.credit_card_number()
    return "IBAN " + fake.iban()


def phone_inside(fake: Faker, rng: random.Random) -> str:
    return rng.choice(["call", "tel.", "phone:", "ring"]) + " " + fake.phone_number()


def gender(fake: Faker, rng: random.Random) -> str:
    return rng.choice(["M", "F", "male", "female", "X", "m", "f", "diverse", "unknown"])


def private_ip(fake: Faker, rng: random.Random) -> str:
    return fake.ipv4_private()


def public_ip(fake: Faker, rng: random.Random) -> str:
    return fake.ipv4_public() if rng.random() < 0.8 else fake.ipv6()


def order_number(fake: Faker, rng: random.Random) -> str:
    return rng.choice("123456789") + digits(rng, 15)


def amount(fake: Faker, rng: random.Random) -> str:
    return f"{rng.randint(1, 99999) / 100:.2f}"


def timestamp(fake: Faker, rng: random.Random) -> str:
    moment = datetime.datetime(2023, 1, 1) + datetime.timedelta(seconds=rng.randint(0, 60_000_000))
    return moment.isoformat(sep=" ")


def recent_date(fake: Faker, rng: random.Random) -> str:
    return (datetime.date(2020, 1, 1) + datetime.timedelta(days=rng.randint(0, 1800))).isoformat()


def company_id(locale: str) -> Gen:
    foreign = Faker("de_DE")  # for locales without VAT numbers in Faker: buyers in Germany
    foreign.seed_instance(SEED)

    def make(fake: Faker, rng: random.Random) -> str:
        if locale == "pt_BR":
            return fake.cnpj()
        if locale == "en_IN":
            return fake.gstin()
        if locale == "es_ES":
            return fake.cif() if rng.random() < 0.5 else fake.vat_id()
        if locale == "en_US":
            return foreign.vat_id()
        return fake.vat_id()

    return make


def national_id(locale: str) -> tuple[Gen, dict[str, list[str]]]:
    """How a person's national id looks in a locale, and what it is called there."""
    ids: dict[str, tuple[Gen, list[str]]] = {
        "en_US": (lambda f, r: f.ssn(), ["ssn", "social_security_number", "ssn_no", "SSN"]),
        "en_GB": (lambda f, r: f.ssn(), ["national_insurance_number", "ni_number", "nino", "NINumber"]),
        "en_IN": (lambda f, r: f.aadhaar_id(), ["aadhaar", "aadhaar_number", "aadhar_no", "uid_number"]),
        "de_DE": (steuer_id, ["steuer_id", "steuerid", "steuer_identifikationsnummer", "IdNr"]),
        "fr_FR": (lambda f, r: f.ssn(), ["numero_securite_sociale", "num_secu", "nir", "insee"]),
        "es_ES": (lambda f, r: f.nif() if r.random() < 0.6 else f.nie(), ["dni", "nif", "nie", "dni_nie"]),
        "it_IT": (lambda f, r: f.ssn(), ["codice_fiscale", "cod_fiscale", "codiceFiscale", "codfisc"]),
        "pt_BR": (lambda f, r: f.cpf(), ["cpf", "numero_cpf", "cpf_cliente", "CPF"]),
        "pt_PT": (pt_nif, ["nif", "numero_contribuinte", "nif_cliente", "NIF"]),
        "nl_NL": (lambda f, r: f.ssn(), ["bsn", "burgerservicenummer", "sofinummer", "BSN"]),
        "pl_PL": (lambda f, r: f.ssn(), ["pesel", "numer_pesel", "nr_pesel", "PESEL"]),
        "sv_SE": (lambda f, r: f.ssn(), ["personnummer", "personnr", "person_nummer", "Personnummer"]),
    }
    make, names = ids[locale]
    lang = LOCALES[locale]
    generic = {
        "en": ["national_id", "tax_id", "personal_id", "identity_number", "document_number", "taxpayer_id"],
        "de": ["personalausweis_nr", "ausweisnummer", "steuernummer"],
        "fr": ["numero_fiscal", "piece_identite", "carte_identite"],
        "es": ["documento_identidad", "numero_documento", "num_doc"],
        "it": ["numero_documento", "carta_identita", "documento_identita"],
        "pt": ["numero_documento", "documento_identidade", "identidade"],
        "nl": ["documentnummer", "identiteitsbewijs", "id_nummer"],
        "pl": ["numer_dowodu", "nr_dowodu", "dowod_osobisty"],
        "sv": ["legitimation", "id_nummer", "identitetskort"],
    }
    return make, {lang: names + generic[lang], "en": names + generic["en"]}


def K(label: str | None, values: Gen, data_type: DataType = DataType.VARCHAR, **names: list[str]) -> Kind:
    return Kind(label, values, names, data_type)


PERSONAL: dict[str, Kind] = {
    "first_name": K(
        S,
        lambda f, r: f.first_name(),
        en=["first_name", "fname", "given_name", "forename", "first_nm", "FirstName"],
        de=["vorname", "vor_name", "rufname"],
        fr=["prenom", "prénom", "prenom_client"],
        es=["nombre", "nombre_pila", "primer_nombre"],
        it=["nome", "nome_battesimo"],
        pt=["primeiro_nome", "nome"],
        nl=["voornaam", "roepnaam", "voornamen"],
        pl=["imie", "imię", "pierwsze_imie"],
        sv=["fornamn", "förnamn", "tilltalsnamn"],
    ),
    "last_name": K(
        S,
        lambda f, r: f.last_name(),
        en=["last_name", "lname", "surname", "family_name", "last_nm", "LastName"],
        de=["nachname", "familienname", "zuname"],
        fr=["nom", "nom_de_famille", "nom_famille"],
        es=["apellido", "apellidos", "primer_apellido"],
        it=["cognome", "cognome_cliente"],
        pt=["sobrenome", "apelido", "ultimo_nome"],
        nl=["achternaam", "geslachtsnaam"],
        pl=["nazwisko", "nazwisko_klienta"],
        sv=["efternamn", "slaktnamn"],
    ),
    "full_name": K(
        S,
        lambda f, r: f.name(),
        en=[
            "full_name",
            "customer_name",
            "cust_nm",
            "contact_name",
            "billing_name",
            "buyer_name",
            "co_borrower_name",
            "account_holder",
            "holder_name",
            "beneficiary",
            "guarantor_name",
            "signer",
            "heir_name",
            "legal_rep",
        ],
        de=["name", "kundenname", "vollständiger_name", "kontoinhaber", "ansprechpartner", "empfaenger"],
        fr=["nom_complet", "nom_client", "titulaire", "nom_prenom", "destinataire"],
        es=["nombre_completo", "nombre_cliente", "titular", "nombre_y_apellidos", "destinatario"],
        it=["nome_completo", "nominativo", "intestatario", "nome_cognome"],
        pt=["nome_completo", "nome_cliente", "titular", "nome"],
        nl=["volledige_naam", "klantnaam", "naam", "rekeninghouder"],
        pl=["imie_nazwisko", "imie_i_nazwisko", "odbiorca"],
        sv=["namn", "fullstandigt_namn", "kundnamn", "kontoinnehavare"],
    ),
    "username": K(
        S,
        lambda f, r: f.user_name(),
        en=["username", "user_name", "login", "screen_name", "display_name", "nickname"],
        de=["benutzername", "anmeldename"],
        fr=["nom_utilisateur", "pseudo", "identifiant"],
        es=["nombre_usuario", "usuario"],
        it=["nome_utente", "utente"],
        pt=["nome_usuario", "usuario", "login"],
        nl=["gebruikersnaam"],
        pl=["nazwa_uzytkownika", "login"],
        sv=["anvandarnamn", "användarnamn"],
    ),
    "email": K(
        S,
        lambda f, r: f.email(),
        en=["email", "email_address", "e_mail", "contact_email", "customerEmail", "mail", "EMAIL_ADDR"],
        de=["e_mail_adresse", "email_adresse", "mail", "emailAdresse"],
        fr=["courriel", "adresse_email", "mel", "adresse_mail"],
        es=["correo", "correo_electronico", "email"],
        it=["email", "indirizzo_email", "posta_elettronica"],
        pt=["email", "correio_eletronico", "endereco_email"],
        nl=["e_mailadres", "emailadres", "email"],
        pl=["adres_email", "e_mail", "email"],
        sv=["e_post", "epost", "e_postadress"],
    ),
    "card": K(
        S,
        lambda f, r: f.credit_card_number(),
        en=["card_number", "credit_card", "cc_number", "pan", "cc_num", "card_no", "CardNumber"],
        de=["kartennummer", "kreditkartennummer", "kreditkarte"],
        fr=["numero_carte", "carte_bancaire", "num_carte"],
        es=["numero_tarjeta", "tarjeta_credito", "num_tarjeta"],
        it=["numero_carta", "carta_di_credito", "carta_credito"],
        pt=["numero_cartao", "cartao_credito", "cartao"],
        nl=["kaartnummer", "creditcard_nummer", "creditcardnummer"],
        pl=["numer_karty", "karta_kredytowa"],
        sv=["kortnummer", "kreditkortsnummer"],
    ),
    "cvv": K(
        S,
        lambda f, r: f.credit_card_security_code(),
        en=["cvv", "cvc", "cvv2", "security_code", "card_cvv", "card_verification_code"],
        de=["kartenpruefnummer", "cvc"],
        fr=["cryptogramme", "code_securite"],
        es=["codigo_seguridad", "cvv"],
        it=["codice_sicurezza", "cvv"],
        pt=["codigo_seguranca", "cvv"],
        nl=["cvc_code", "beveiligingscode"],
        pl=["kod_cvv", "kod_cvc"],
        sv=["cvc", "sakerhetskod"],
    ),
    "iban": K(
        S,
        lambda f, r: f.iban(),
        en=["iban", "bank_iban", "refund_iban", "payout_iban", "IBAN"],
        de=["iban", "iban_nummer"],
        fr=["iban", "numero_iban"],
        es=["iban", "cuenta_iban"],
        it=["iban", "codice_iban"],
        pt=["iban", "numero_iban"],
        nl=["iban", "iban_rekening"],
        pl=["iban", "numer_iban"],
        sv=["iban", "ibannummer"],
    ),
    "bank_account": K(
        S,
        lambda f, r: f.bban() if r.random() < 0.5 else digits(r, r.randint(8, 12)),
        en=["account_number", "acct_no", "bank_account", "account_no", "acc_num", "bank_acct_nbr"],
        de=["kontonummer", "konto_nr", "bankkonto"],
        fr=["numero_compte", "compte_bancaire", "rib"],
        es=["numero_cuenta", "cuenta_bancaria", "num_cuenta"],
        it=["numero_conto", "conto_corrente"],
        pt=["numero_conta", "conta_bancaria", "conta_corrente"],
        nl=["rekeningnummer", "bankrekening"],
        pl=["numer_konta", "nr_rachunku"],
        sv=["kontonummer", "bankkonto"],
    ),
    "passport": K(
        S,
        passport,
        en=["passport_number", "passport_no", "pp_no", "passport", "PassportNum"],
        de=["reisepassnummer", "passnummer", "reisepass_nr"],
        fr=["numero_passeport", "passeport"],
        es=["pasaporte", "num_pasaporte", "numero_pasaporte"],
        it=["passaporto", "numero_passaporto"],
        pt=["passaporte", "numero_passaporte"],
        nl=["paspoortnummer", "paspoort_nr"],
        pl=["numer_paszportu", "paszport"],
        sv=["passnummer", "pass_nr"],
    ),
    "driver_licence": K(
        S,
        driver_licence,
        en=["drivers_license", "driver_license_number", "dl_num", "dl_no", "driving_licence", "DLNumber"],
        de=["fuehrerscheinnummer", "führerschein_nr", "fuehrerschein"],
        fr=["permis_de_conduire", "numero_permis_conduire"],
        es=["licencia_conducir", "carnet_conducir", "permiso_conducir"],
        it=["patente_di_guida", "numero_patente_guida"],
        pt=["carta_conducao", "cnh", "carteira_motorista"],
        nl=["rijbewijsnummer", "rijbewijs"],
        pl=["prawo_jazdy", "nr_prawa_jazdy"],
        sv=["korkortsnummer", "körkort"],
    ),
    "ip": K(
        S,
        public_ip,
        en=["ip_address", "client_ip", "ip", "last_login_ip", "ipAddress", "remote_ip", "signup_ip", "visitor_ip"],
        de=["ip_adresse", "ip"],
        fr=["adresse_ip", "ip_client"],
        es=["direccion_ip", "ip_cliente"],
        it=["indirizzo_ip", "ip_utente"],
        pt=["endereco_ip", "ip_cliente"],
        nl=["ip_adres", "ip"],
        pl=["adres_ip", "ip"],
        sv=["ip_adress", "ip"],
    ),
    "mac": K(
        S,
        lambda f, r: f.mac_address(),
        en=["mac_address", "mac", "device_mac", "hw_addr", "wifi_mac"],
        de=["mac_adresse"],
        fr=["adresse_mac"],
        es=["direccion_mac"],
        it=["indirizzo_mac"],
        pt=["endereco_mac"],
        nl=["mac_adres"],
        pl=["adres_mac"],
        sv=["mac_adress"],
    ),
    "text_sensitive": K(
        S,
        text_with(email_or_card_or_iban, 0.45),
        en=["notes", "comment", "comments", "remarks", "message", "body", "free_text"],
        de=["bemerkung", "kommentar", "notiz", "nachricht"],
        fr=["commentaire", "remarque", "notes", "message"],
        es=["comentario", "observaciones", "nota", "mensaje"],
        it=["commento", "osservazioni", "note", "messaggio"],
        pt=["observacoes", "comentario", "nota", "mensagem"],
        nl=["opmerking", "notitie", "bericht"],
        pl=["uwagi", "komentarz", "wiadomosc"],
        sv=["anteckning", "kommentar", "meddelande"],
    ),
    "phone": K(
        N,
        lambda f, r: f.phone_number(),
        en=["phone", "phone_number", "mobile", "cell_phone", "tel", "telephone", "contact_phone", "phoneNumber"],
        de=["telefon", "telefonnummer", "handy", "mobilnummer", "tel_nr"],
        fr=["telephone", "téléphone", "portable", "numero_telephone", "tel"],
        es=["telefono", "teléfono", "movil", "tfno"],
        it=["telefono", "cellulare", "tel"],
        pt=["telefone", "celular", "tel"],
        nl=["telefoon", "telefoonnummer", "mobiel"],
        pl=["telefon", "nr_telefonu", "komorka"],
        sv=["telefon", "telefonnummer", "mobilnummer"],
    ),
    "street": K(
        N,
        lambda f, r: f.street_address().replace("\n", ", "),
        en=["street_address", "address", "address_line1", "street", "billing_address", "home_address"],
        de=["strasse", "straße", "anschrift", "adresse"],
        fr=["adresse", "rue", "adresse_postale"],
        es=["direccion", "calle", "domicilio"],
        it=["indirizzo", "via", "indirizzo_residenza"],
        pt=["endereco", "rua", "logradouro", "morada"],
        nl=["adres", "straat", "straatnaam"],
        pl=["adres", "ulica", "adres_zamieszkania"],
        sv=["adress", "gatuadress"],
    ),
    "postcode": K(
        N,
        lambda f, r: f.postcode(),
        en=["zip", "zip_code", "postal_code", "postcode", "ZipCode"],
        de=["plz", "postleitzahl"],
        fr=["code_postal", "cp"],
        es=["codigo_postal", "cp"],
        it=["cap", "codice_postale"],
        pt=["cep", "codigo_postal"],
        nl=["postcode"],
        pl=["kod_pocztowy"],
        sv=["postnummer"],
    ),
    "birth_date": K(
        N,
        lambda f, r: birth_date(f, r),
        DataType.DATE,
        en=["birth_date", "date_of_birth", "dob", "birthday", "birthdate", "DOB"],
        de=["geburtsdatum", "geb_datum", "geburtstag"],
        fr=["date_naissance", "date_de_naissance"],
        es=["fecha_nacimiento", "fecha_de_nacimiento", "f_nacimiento"],
        it=["data_nascita", "data_di_nascita"],
        pt=["data_nascimento", "data_de_nascimento", "dt_nascimento"],
        nl=["geboortedatum"],
        pl=["data_urodzenia"],
        sv=["fodelsedatum", "födelsedatum"],
    ),
    "gender": K(
        N,
        gender,
        en=["gender", "sex"],
        de=["geschlecht"],
        fr=["sexe", "genre"],
        es=["sexo", "genero"],
        it=["sesso", "genere"],
        pt=["sexo", "genero"],
        nl=["geslacht"],
        pl=["plec", "płeć"],
        sv=["kon", "kön"],
    ),
    "nationality": K(
        N,
        lambda f, r: f.country(),
        en=["nationality", "citizenship"],
        de=["staatsangehoerigkeit", "nationalitaet"],
        fr=["nationalite", "nationalité"],
        es=["nacionalidad"],
        it=["nazionalita", "cittadinanza"],
        pt=["nacionalidade"],
        nl=["nationaliteit"],
        pl=["obywatelstwo", "narodowosc"],
        sv=["medborgarskap", "nationalitet"],
    ),
    "text_phone": K(
        N,
        text_with(phone_inside, 0.4),
        en=["notes", "comment", "remarks", "callback_note", "memo"],
        de=["bemerkung", "notiz", "rueckruf_notiz"],
        fr=["commentaire", "remarque"],
        es=["comentario", "nota"],
        it=["commento", "note"],
        pt=["observacao", "nota"],
        nl=["opmerking", "notitie"],
        pl=["uwagi", "notatka"],
        sv=["anteckning", "notering"],
    ),
}

NOT_PERSONAL: dict[str, Kind] = {
    "amount": K(
        None,
        amount,
        DataType.DECIMAL,
        en=["amount", "total", "price", "balance", "credit_limit"],
        de=["betrag", "preis", "summe"],
        fr=["montant", "prix"],
        es=["importe", "precio"],
        it=["importo", "prezzo"],
        pt=["valor", "preco"],
        nl=["bedrag", "prijs"],
        pl=["kwota", "cena"],
        sv=["belopp", "pris"],
    ),
    "created": K(
        None,
        timestamp,
        DataType.TIMESTAMP,
        en=["created_at", "updated_at", "last_login", "modified"],
        de=["erstellt_am", "geaendert_am"],
        fr=["date_creation", "cree_le"],
        es=["fecha_alta", "creado_en"],
        it=["data_creazione"],
        pt=["criado_em", "data_cadastro"],
        nl=["aangemaakt_op"],
        pl=["data_utworzenia"],
        sv=["skapad"],
    ),
    "order_date": K(
        None,
        recent_date,
        DataType.VARCHAR,
        en=["order_date", "invoice_date", "ship_date", "due_date"],
        de=["bestelldatum", "lieferdatum"],
        fr=["date_commande"],
        es=["fecha_pedido"],
        it=["data_ordine"],
        pt=["data_pedido"],
        nl=["besteldatum"],
        pl=["data_zamowienia"],
        sv=["orderdatum"],
    ),
    "status": K(
        None,
        lambda f, r: (
            r.choice(["active", "inactive", "pending", "closed", "open", "blocked"]) + r.choice(["", "_1", "_2"])
        ),
        en=["status", "state", "account_status"],
        de=["status", "zustand"],
        fr=["statut", "etat"],
        es=["estado"],
        it=["stato"],
        pt=["situacao", "estado"],
        nl=["status"],
        pl=["status"],
        sv=["status"],
    ),
    "order_number": K(
        None,
        order_number,
        en=["order_number", "order_no", "invoice_number", "tracking_number", "reference"],
        de=["bestellnummer", "rechnungsnummer"],
        fr=["numero_commande", "reference"],
        es=["numero_pedido", "referencia"],
        it=["numero_ordine"],
        pt=["numero_pedido"],
        nl=["bestelnummer", "factuurnummer"],
        pl=["numer_zamowienia"],
        sv=["ordernummer"],
    ),
    "customer_id": K(
        None,
        lambda f, r: str(r.randint(1, 10**6)),
        DataType.INT,
        en=["id", "customer_id", "user_id", "account_id", "person_id", "employee_id"],
        de=["kunden_id", "kundennummer"],
        fr=["id_client", "numero_client"],
        es=["id_cliente"],
        it=["id_cliente", "codice_cliente"],
        pt=["id_cliente", "codigo_cliente"],
        nl=["klant_id", "klantnummer"],
        pl=["id_klienta"],
        sv=["kund_id", "kundnummer"],
    ),
    "product": K(
        None,
        product,
        en=["product_name", "item_name", "title", "product"],
        de=["produktname", "artikelname", "bezeichnung"],
        fr=["nom_produit", "libelle", "designation"],
        es=["nombre_producto", "descripcion_corta"],
        it=["nome_prodotto", "descrizione"],
        pt=["nome_produto", "descricao"],
        nl=["productnaam", "omschrijving"],
        pl=["nazwa_produktu"],
        sv=["produktnamn", "benamning"],
    ),
    "company": K(
        None,
        lambda f, r: f.company(),
        en=["company", "company_name", "employer", "supplier_name", "vendor"],
        de=["firma", "firmenname", "arbeitgeber"],
        fr=["entreprise", "raison_sociale", "societe"],
        es=["empresa", "razon_social"],
        it=["azienda", "ragione_sociale"],
        pt=["empresa", "razao_social"],
        nl=["bedrijf", "bedrijfsnaam"],
        pl=["firma", "nazwa_firmy"],
        sv=["foretag", "företagsnamn"],
    ),
    "city": K(
        None,
        lambda f, r: f.city(),
        en=["city", "town", "birth_city"],
        de=["stadt", "ort", "wohnort"],
        fr=["ville", "commune"],
        es=["ciudad", "municipio"],
        it=["citta", "comune"],
        pt=["cidade", "municipio"],
        nl=["plaats", "woonplaats", "stad"],
        pl=["miasto", "miejscowosc"],
        sv=["stad", "ort"],
    ),
    "country": K(
        None,
        lambda f, r: f.country(),
        en=["country", "country_name"],
        de=["land"],
        fr=["pays"],
        es=["pais"],
        it=["paese", "nazione"],
        pt=["pais"],
        nl=["land"],
        pl=["kraj"],
        sv=["land"],
    ),
    "job": K(
        None,
        lambda f, r: f.job(),
        en=["job_title", "position", "occupation", "role"],
        de=["beruf", "position"],
        fr=["poste", "profession"],
        es=["puesto", "cargo"],
        it=["mansione", "professione"],
        pt=["cargo", "profissao"],
        nl=["functie", "beroep"],
        pl=["stanowisko", "zawod"],
        sv=["befattning", "yrke"],
    ),
    "routing": K(
        None,
        lambda f, r: f.aba() if r.random() < 0.7 else f.swift(),
        en=["routing_number", "aba", "aba_routing", "bank_routing", "transit_number", "bic", "swift_code"],
        de=["bic", "bankleitzahl", "blz"],
        fr=["bic", "code_banque"],
        es=["bic", "swift"],
        it=["bic", "codice_swift"],
        pt=["bic", "swift"],
        nl=["bic"],
        pl=["bic", "swift"],
        sv=["bic", "swift"],
    ),
    "version": K(
        None,
        version,
        en=["version", "app_version", "firmware_version", "build", "sw_version", "release"],
        de=["version", "softwareversion"],
        fr=["version"],
        es=["version"],
        it=["versione"],
        pt=["versao"],
        nl=["versie"],
        pl=["wersja"],
        sv=["version"],
    ),
    "version_hidden": K(
        None,
        lambda f, r: ".".join(str(r.randint(0, 40)) for _ in range(4)),
        en=["build_id", "tag", "label", "component", "schema_rev", "api_level"],
    ),
    "private_ip": K(
        None,
        private_ip,
        en=["server_ip", "host_ip", "internal_ip", "gateway", "node_ip", "ip_address", "ip"],
        de=["server_ip"],
        fr=["ip_serveur"],
        es=["ip_servidor"],
        it=["ip_server"],
        pt=["ip_servidor"],
        nl=["server_ip"],
        pl=["ip_serwera"],
        sv=["server_ip"],
    ),
    "host": K(
        None,
        lambda f, r: f.hostname() if r.random() < 0.5 else f.url(),
        en=["hostname", "host", "url", "website", "homepage"],
        de=["webseite"],
        fr=["site_web"],
        es=["sitio_web"],
        it=["sito_web"],
        pt=["site"],
        nl=["website"],
        pl=["strona_www"],
        sv=["webbplats"],
    ),
    "text_plain": K(
        None,
        lambda f, r: f.sentence(nb_words=r.randint(5, 12)),
        en=["description", "notes", "comment", "summary"],
        de=["beschreibung", "bemerkung"],
        fr=["description", "commentaire"],
        es=["descripcion", "comentario"],
        it=["descrizione", "note"],
        pt=["descricao", "observacoes"],
        nl=["omschrijving", "opmerking"],
        pl=["opis", "uwagi"],
        sv=["beskrivning", "anteckning"],
    ),
    "sku": K(
        None,
        lambda f, r: f.ean13() if r.random() < 0.5 else f"{r.choice('ABCDEFGH')}{r.choice('ABCDEFGH')}-{digits(r, 5)}",
        en=["sku", "ean", "barcode", "product_code", "item_code"],
        de=["artikelnummer", "ean"],
        fr=["code_article"],
        es=["codigo_articulo"],
        it=["codice_articolo"],
        pt=["codigo_produto"],
        nl=["artikelnummer"],
        pl=["kod_produktu"],
        sv=["artikelnummer"],
    ),
    "quantity": K(
        None,
        lambda f, r: str(r.randint(0, 500)),
        DataType.INT,
        en=["quantity", "qty", "stock", "age_days", "score"],
        de=["menge", "anzahl"],
        fr=["quantite"],
        es=["cantidad"],
        it=["quantita"],
        pt=["quantidade"],
        nl=["aantal"],
        pl=["ilosc"],
        sv=["antal"],
    ),
    "currency": K(
        None,
        lambda f, r: f.currency_code(),
        en=["currency", "currency_code"],
        de=["waehrung"],
        fr=["devise"],
        es=["moneda"],
        it=["valuta"],
        pt=["moeda"],
        nl=["valuta"],
        pl=["waluta"],
        sv=["valuta"],
    ),
}


def locale_kinds(locale: str) -> tuple[dict[str, Kind], dict[str, Kind]]:
    """The personal and non-personal kinds of one locale (its national id and company ids added)."""
    make, names = national_id(locale)
    personal = {**PERSONAL, "national_id": Kind(S, make, names)}
    company = Kind(
        None,
        company_id(locale),
        {
            "en": ["vat_id", "vat_number", "buyer_tax_id", "supplier_tax_id", "company_tax_id"],
            "de": ["ust_id", "umsatzsteuer_id", "ust_idnr"],
            "fr": ["numero_tva", "tva_intracom", "siren"],
            "es": ["cif", "nif_iva", "cif_empresa"],
            "it": ["partita_iva", "p_iva"],
            "pt": ["cnpj", "nipc", "nif_empresa"],
            "nl": ["btw_nummer", "btw_id", "kvk_nummer"],
            "pl": ["nip", "nip_firmy"],
            "sv": ["momsnr", "organisationsnummer"],
        },
    )
    return personal, {**NOT_PERSONAL, "company_id": company}


TABLE_NAMES = {
    "customers": {
        "en": "customers",
        "de": "kunden",
        "fr": "clients",
        "es": "clientes",
        "it": "clienti",
        "pt": "clientes",
        "nl": "klanten",
        "pl": "klienci",
        "sv": "kunder",
    },
    "employees": {
        "en": "employees",
        "de": "mitarbeiter",
        "fr": "employes",
        "es": "empleados",
        "it": "dipendenti",
        "pt": "funcionarios",
        "nl": "medewerkers",
        "pl": "pracownicy",
        "sv": "anstallda",
    },
}
"""Tables of people are named in the locale's language (others in English, as is common)."""

TABLES = {
    "customers": (
        [
            "first_name",
            "last_name",
            "full_name",
            "email",
            "phone",
            "street",
            "postcode",
            "birth_date",
            "gender",
            "nationality",
            "national_id",
            "username",
            "ip",
        ],
        ["customer_id", "created", "status", "city", "country"],
    ),
    "employees": (
        [
            "full_name",
            "email",
            "national_id",
            "bank_account",
            "iban",
            "passport",
            "driver_licence",
            "birth_date",
            "phone",
            "street",
        ],
        ["customer_id", "job", "amount", "company", "created"],
    ),
    "payments": (
        ["card", "cvv", "iban", "full_name", "text_sensitive"],
        ["order_number", "amount", "currency", "order_date", "routing", "status", "company_id"],
    ),
    "devices": (["ip", "mac", "username"], ["version", "version_hidden", "private_ip", "host", "created", "sku"]),
    "tickets": (["text_sensitive", "text_phone", "email"], ["text_plain", "status", "created", "customer_id"]),
    "products": ([], ["product", "sku", "amount", "quantity", "text_plain", "company", "company_id", "order_date"]),
}
ANONYMOUS = ["attr_1", "value", "data", "field_3", "col7", "info", "extra", "x1", "c_12", "payload"]
"""Names saying nothing: some columns of personal data are named so (only values can tell)."""


def style(name: str, rng: random.Random) -> str:
    """The name as snake_case (mostly), camelCase, PascalCase or UPPER_CASE."""
    parts = name.split("_")
    roll = rng.random()
    if roll < 0.6 or (len(parts) == 1 and roll < 0.8):
        return name
    if roll < 0.75:
        return parts[0] + "".join(part[:1].upper() + part[1:] for part in parts[1:])
    if roll < 0.88:
        return "".join(part[:1].upper() + part[1:] for part in parts)
    return name.upper()


def samples(kind: Kind, fake: Faker, rng: random.Random, count: int = SAMPLES) -> list[str]:
    """Up to ``count`` distinct values of a kind."""
    values: dict[str, None] = {}
    for _ in range(count * 5):
        values.setdefault(kind.values(fake, rng), None)
        if len(values) == count:
            break
    return list(values)


def dataset(seed: int = SEED) -> list[Labelled]:
    """The labelled columns, the same for the same seed."""
    rng = random.Random(seed)
    columns: list[Labelled] = []
    for locale, lang in LOCALES.items():
        fake = Faker(locale)
        fake.seed_instance(rng.randrange(2**32))
        personal, other = locale_kinds(locale)
        for table, (personal_kinds, other_kinds) in TABLES.items():
            chosen = [(name, personal[name]) for name in personal_kinds] + [(name, other[name]) for name in other_kinds]
            if rng.random() < 0.5:  # a column of personal data with a name that says nothing
                kind_name = rng.choice(["email", "card", "iban", "national_id", "phone", "ip", "full_name"])
                chosen.append((f"anonymous:{kind_name}", personal[kind_name]))
            used: set[str] = set()
            for kind_name, kind in chosen:
                if kind_name.startswith("anonymous:"):
                    name = rng.choice(ANONYMOUS)
                else:
                    choices = kind.names.get(lang, []) + (kind.names.get("en", []) if rng.random() < 0.35 else [])
                    name = style(rng.choice(choices or kind.names["en"]), rng)
                if name.lower() in used:
                    continue
                used.add(name.lower())
                data_type = kind.data_type
                values = samples(kind, fake, rng)
                if kind_name == "birth_date" and rng.random() < 0.4:  # dates kept as text, written the local way
                    data_type = DataType.VARCHAR
                    values = [
                        birth_date(fake, rng, "iso" if lang == "en" else rng.choice(["dot", "slash"])) for _ in values
                    ]
                if kind_name == "national_id" and locale in ("nl_NL", "pl_PL", "pt_BR") and rng.random() < 0.3:
                    data_type = DataType.BIGINT
                    values = [str(int(value.replace(".", "").replace("-", ""))) for value in values]
                column = Column(name=name, data_type=data_type, samples=values)
                table_name = TABLE_NAMES.get(table, {}).get(lang, table)
                columns.append(Labelled(locale, table_name, column, kind.label, kind_name))
    return columns


def tables(columns: list[Labelled]) -> Iterator[Table]:
    """The labelled columns as tables (one per locale and table name)."""
    grouped: dict[tuple[str, str], list[Column]] = {}
    for item in columns:
        grouped.setdefault((item.locale, item.table), []).append(item.column)
    for (locale, table), members in grouped.items():
        yield Table(service="bench", database=locale.lower(), database_schema="s", name=table, columns=members)
