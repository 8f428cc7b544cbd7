"""Write stilts/analysis/languages.csv: family, script, resource class and URIEL+ distances to English of every
language stilts' target tasks use (tests/test_analysis_languages.py checks that every one is there).

URIEL+ is not a dependency of stilts; run this in a throwaway environment (it needs no network once installed:
its data ship inside the package):

    python3 -m venv /tmp/uplus && /tmp/uplus/bin/pip install urielplus==1.3.2
    /tmp/uplus/bin/python tools/make_language_table.py          # writes stilts/analysis/languages.csv

Sources, column by column:

- ``iso639_3``, ``glottocode``: the individual language URIEL+ describes for the ISO 639-1 code (a macrolanguage
  code such as ``ar``, ``zh``, ``fa``, ``ms``, ``sw``, ``et``, ``qu`` has no URIEL+ data of its own, so its
  standard variety stands for it; chosen here, by hand), its Glottocode from URIEL+'s
  ``uriel_glottocode_map.csv``;
- ``family``: the top of the language's Glottolog lineage as URIEL+ ships it (``lang_fam_geo.csv``); an isolate
  is its own family, as Glottolog counts it;
- ``script``: ISO 15924 code of the script the tasks' data write the language in; by hand (URIEL+'s script
  features describe kinds of script, not which one);
- ``resource_class``: Joshi et al. (2020), "The State and Fate of Linguistic Diversity and Inclusion in the NLP
  World", classes 0 (left behind) to 5 (winners), from their lang2tax.txt
  (https://microsoft.github.io/linguisticdiversity/assets/lang2tax.txt) by language name; transcribed by hand
  from a copy of its class lists (the file lists names only, and could not be downloaded where this was
  written), Quechua's class for Cusco Quechua;
- ``syntactic``, ``featural``, ``genetic``, ``geographic``: URIEL+ (Khan et al. 2025, "URIEL+: Enhancing
  Linguistic Inclusion and Usability in a Typological and Multilingual Knowledge Base"; URIEL: Littell et al.
  2017) distances to English, ``new_distance`` with the package's defaults (angular distance, 0 to 1, over the
  features both languages have, sources united) after ``integrate_databases()``, to 4 decimals as URIEL+
  rounds them. Every language here has all four; the phonological and inventory distances are left out (see
  `DISTANCES`).
"""

from __future__ import annotations

import csv
import io
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "stilts" / "analysis" / "languages.csv"

#: ISO 639-1 -> (English name, ISO 639-3 of the individual language URIEL+ describes, ISO 15924 script, Joshi class)
LANGUAGES = {
    "af": ("Afrikaans", "afr", "Latn", 3),
    "ar": ("Arabic", "arb", "Arab", 5),
    "bg": ("Bulgarian", "bul", "Cyrl", 3),
    "bn": ("Bengali", "ben", "Beng", 3),
    "de": ("German", "deu", "Latn", 5),
    "el": ("Greek", "ell", "Grek", 3),
    "en": ("English", "eng", "Latn", 5),
    "es": ("Spanish", "spa", "Latn", 5),
    "et": ("Estonian", "ekk", "Latn", 3),
    "eu": ("Basque", "eus", "Latn", 4),
    "fa": ("Persian", "pes", "Arab", 4),
    "fi": ("Finnish", "fin", "Latn", 4),
    "fr": ("French", "fra", "Latn", 5),
    "he": ("Hebrew", "heb", "Hebr", 3),
    "hi": ("Hindi", "hin", "Deva", 4),
    "ht": ("Haitian Creole", "hat", "Latn", 2),
    "hu": ("Hungarian", "hun", "Latn", 4),
    "id": ("Indonesian", "ind", "Latn", 3),
    "it": ("Italian", "ita", "Latn", 4),
    "ja": ("Japanese", "jpn", "Jpan", 5),
    "jv": ("Javanese", "jav", "Latn", 1),
    "ka": ("Georgian", "kat", "Geor", 3),
    "kk": ("Kazakh", "kaz", "Cyrl", 3),
    "ko": ("Korean", "kor", "Hang", 4),
    "ml": ("Malayalam", "mal", "Mlym", 1),
    "mr": ("Marathi", "mar", "Deva", 2),
    "ms": ("Malay", "zsm", "Latn", 3),
    "my": ("Burmese", "mya", "Mymr", 1),
    "nl": ("Dutch", "nld", "Latn", 4),
    "pl": ("Polish", "pol", "Latn", 4),
    "pt": ("Portuguese", "por", "Latn", 4),
    "qu": ("Quechua", "quz", "Latn", 1),
    "ru": ("Russian", "rus", "Cyrl", 4),
    "sw": ("Swahili", "swh", "Latn", 2),
    "ta": ("Tamil", "tam", "Taml", 3),
    "te": ("Telugu", "tel", "Telu", 1),
    "th": ("Thai", "tha", "Thai", 3),
    "tl": ("Tagalog", "tgl", "Latn", 3),
    "tr": ("Turkish", "tur", "Latn", 4),
    "ur": ("Urdu", "urd", "Arab", 3),
    "vi": ("Vietnamese", "vie", "Latn", 4),
    "yo": ("Yoruba", "yor", "Latn", 2),
    "zh": ("Chinese", "cmn", "Hans", 5),
}
#: URIEL+'s phonological and inventory distances are left out: for our languages they lack values (11 and 4 of 43)
#: or rest on so few shared features that they come out 0 (Afrikaans, Kazakh: as close to English as English)
DISTANCES = ("syntactic", "featural", "genetic", "geographic")
COLUMNS = ("code", "name", "iso639_3", "glottocode", "family", "script", "resource_class", *DISTANCES)
HEADER = """\
# The languages of stilts' target tasks: family, script, resource class and typological distances to English.
# Written by tools/make_language_table.py (its docstring says how to run it and why); do not edit by hand.
# family: top of the Glottolog lineage in URIEL+ 1.3.2 (an isolate is its own family); script: ISO 15924,
# by hand; resource_class: Joshi et al. (2020) class 0-5, lang2tax.txt, transcribed by hand by language name;
# syntactic, featural, genetic, geographic: URIEL+ 1.3.2 (Khan et al. 2025; URIEL, Littell et al. 2017)
# angular distance to English (0-1) over the features both languages have, all URIEL+ databases integrated.
# iso639_3: the individual language URIEL+ describes (a macrolanguage's standard variety, chosen by hand).
"""


def main() -> int:
    logging.disable(logging.INFO)  # URIEL+ logs every step at INFO
    from urielplus import urielplus  # a throwaway environment's package: see the docstring

    data = Path(urielplus.__file__).parent / "database" / "urielplus_csvs"
    with open(data / "uriel_glottocode_map.csv", encoding="utf-8") as f:
        glottocodes = {row["iso_code"].strip(): row["glottocode"].strip() for row in csv.DictReader(f)}
    with open(data / "lang_fam_geo.csv", encoding="utf-8") as f:
        lineages = {row["language_id"]: row["lineage"] for row in csv.DictReader(f)}
    uriel = urielplus.URIELPlus()
    uriel.integrate_databases()  # identifies languages by Glottocode from here on
    english = glottocodes["eng"]
    rows = []
    for code, (name, iso3, script, resource_class) in LANGUAGES.items():
        glottocode = glottocodes.get(iso3, "")
        if not glottocode:
            print(f"{code}: URIEL+ has no Glottocode for {iso3}", file=sys.stderr)
            return 1
        lineage = [part.strip() for part in lineages.get(glottocode, "").split(",") if part.strip()]
        row = {
            "code": code,
            "name": name,
            "iso639_3": iso3,
            "glottocode": glottocode,
            "family": lineage[0] if lineage else name,
            "script": script,
            "resource_class": resource_class,
        }
        for distance in DISTANCES:
            if glottocode == english:
                row[distance] = 0.0
                continue
            try:
                row[distance] = round(float(uriel.new_distance(distance, [english, glottocode])), 4)
            except ValueError:  # no shared features
                row[distance] = ""
        rows.append(row)
    text = io.StringIO()
    text.write(HEADER)
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    OUT.write_text(text.getvalue(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(rows)} languages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
