"""Language codes of corpus files: ISO 639-1 (``de``), from a name or a three-letter code.

Corpora name their files in many ways: ``de.txt``, ``wiki.de.txt``, or NTREX-128's
``newstest2019-ref.deu.txt`` / ``newstest2019-ref.zho-CN.txt`` (ISO 639-3 with a region or script
suffix). Everything else in the toolkit names languages by ISO 639-1 code, so three-letter codes are
mapped to their two-letter code; a code without one (e.g. ``ckb``, Central Kurdish) is kept as it is,
since it still names one language. Region and script suffixes are dropped (``zho-CN`` -> ``zh``,
``eng-GB`` -> ``en``, ``srp-Latn`` -> ``sr``): XTREME has one code per language.
"""

from __future__ import annotations

import re
from pathlib import Path

# ISO 639-1 -> ISO 639-2/T (which is also the ISO 639-3 code, or the macrolanguage's code).
_ISO_639_1_TO_3 = {
    "aa": "aar",
    "ab": "abk",
    "ae": "ave",
    "af": "afr",
    "ak": "aka",
    "am": "amh",
    "an": "arg",
    "ar": "ara",
    "as": "asm",
    "av": "ava",
    "ay": "aym",
    "az": "aze",
    "ba": "bak",
    "be": "bel",
    "bg": "bul",
    "bi": "bis",
    "bm": "bam",
    "bn": "ben",
    "bo": "bod",
    "br": "bre",
    "bs": "bos",
    "ca": "cat",
    "ce": "che",
    "ch": "cha",
    "co": "cos",
    "cr": "cre",
    "cs": "ces",
    "cu": "chu",
    "cv": "chv",
    "cy": "cym",
    "da": "dan",
    "de": "deu",
    "dv": "div",
    "dz": "dzo",
    "ee": "ewe",
    "el": "ell",
    "en": "eng",
    "eo": "epo",
    "es": "spa",
    "et": "est",
    "eu": "eus",
    "fa": "fas",
    "ff": "ful",
    "fi": "fin",
    "fj": "fij",
    "fo": "fao",
    "fr": "fra",
    "fy": "fry",
    "ga": "gle",
    "gd": "gla",
    "gl": "glg",
    "gn": "grn",
    "gu": "guj",
    "gv": "glv",
    "ha": "hau",
    "he": "heb",
    "hi": "hin",
    "ho": "hmo",
    "hr": "hrv",
    "ht": "hat",
    "hu": "hun",
    "hy": "hye",
    "hz": "her",
    "ia": "ina",
    "id": "ind",
    "ie": "ile",
    "ig": "ibo",
    "ii": "iii",
    "ik": "ipk",
    "io": "ido",
    "is": "isl",
    "it": "ita",
    "iu": "iku",
    "ja": "jpn",
    "jv": "jav",
    "ka": "kat",
    "kg": "kon",
    "ki": "kik",
    "kj": "kua",
    "kk": "kaz",
    "kl": "kal",
    "km": "khm",
    "kn": "kan",
    "ko": "kor",
    "kr": "kau",
    "ks": "kas",
    "ku": "kur",
    "kv": "kom",
    "kw": "cor",
    "ky": "kir",
    "la": "lat",
    "lb": "ltz",
    "lg": "lug",
    "li": "lim",
    "ln": "lin",
    "lo": "lao",
    "lt": "lit",
    "lu": "lub",
    "lv": "lav",
    "mg": "mlg",
    "mh": "mah",
    "mi": "mri",
    "mk": "mkd",
    "ml": "mal",
    "mn": "mon",
    "mr": "mar",
    "ms": "msa",
    "mt": "mlt",
    "my": "mya",
    "na": "nau",
    "nb": "nob",
    "nd": "nde",
    "ne": "nep",
    "ng": "ndo",
    "nl": "nld",
    "nn": "nno",
    "no": "nor",
    "nr": "nbl",
    "nv": "nav",
    "ny": "nya",
    "oc": "oci",
    "oj": "oji",
    "om": "orm",
    "or": "ori",
    "os": "oss",
    "pa": "pan",
    "pi": "pli",
    "pl": "pol",
    "ps": "pus",
    "pt": "por",
    "qu": "que",
    "rm": "roh",
    "rn": "run",
    "ro": "ron",
    "ru": "rus",
    "rw": "kin",
    "sa": "san",
    "sc": "srd",
    "sd": "snd",
    "se": "sme",
    "sg": "sag",
    "si": "sin",
    "sk": "slk",
    "sl": "slv",
    "sm": "smo",
    "sn": "sna",
    "so": "som",
    "sq": "sqi",
    "sr": "srp",
    "ss": "ssw",
    "st": "sot",
    "su": "sun",
    "sv": "swe",
    "sw": "swa",
    "ta": "tam",
    "te": "tel",
    "tg": "tgk",
    "th": "tha",
    "ti": "tir",
    "tk": "tuk",
    "tl": "tgl",
    "tn": "tsn",
    "to": "ton",
    "tr": "tur",
    "ts": "tso",
    "tt": "tat",
    "tw": "twi",
    "ty": "tah",
    "ug": "uig",
    "uk": "ukr",
    "ur": "urd",
    "uz": "uzb",
    "ve": "ven",
    "vi": "vie",
    "vo": "vol",
    "wa": "wln",
    "wo": "wol",
    "xh": "xho",
    "yi": "yid",
    "yo": "yor",
    "za": "zha",
    "zh": "zho",
    "zu": "zul",
}
ISO_639_1 = frozenset(_ISO_639_1_TO_3)

# Other three-letter codes of those languages: ISO 639-2/B codes, and ISO 639-3 codes of the
# individual language a corpus usually holds when the two-letter code is a macrolanguage (NTREX-128
# writes Standard Arabic as `arb`, Tatoeba Mandarin as `cmn`, Swahili as `swh`, Persian as `pes`).
_OTHER_THREE_LETTER = {
    # ISO 639-2/B
    "alb": "sq",
    "arm": "hy",
    "baq": "eu",
    "bur": "my",
    "chi": "zh",
    "cze": "cs",
    "dut": "nl",
    "fre": "fr",
    "geo": "ka",
    "ger": "de",
    "gre": "el",
    "ice": "is",
    "mac": "mk",
    "mao": "mi",
    "may": "ms",
    "per": "fa",
    "rum": "ro",
    "slo": "sk",
    "tib": "bo",
    "wel": "cy",
    # ISO 639-3 individual languages within a macrolanguage
    "arb": "ar",
    "cmn": "zh",
    "swh": "sw",
    "pes": "fa",
    "zsm": "ms",
    "ekk": "et",
    "lvs": "lv",
    "uzn": "uz",
    "azj": "az",
    "npi": "ne",
    "ory": "or",
    "pbt": "ps",
    "khk": "mn",
    "plt": "mg",
    "ydd": "yi",
    "kmr": "ku",
    # Filipino is standardised Tagalog; XTREME's code for it is `tl`
    "fil": "tl",
}
THREE_TO_ONE = {three: one for one, three in _ISO_639_1_TO_3.items()} | _OTHER_THREE_LETTER

#: a language code with an optional region or script suffix: de, deu, zho-CN, zh_TW, srp-Latn
_CODE = re.compile(r"^(?P<code>[A-Za-z]{2,3})(?:[-_](?P<suffix>[A-Za-z]{2}|[A-Za-z]{4}|[0-9]{3}))?$")


def normalize_language(token: str, *, three_letter_any: bool = True) -> str | None:
    """ISO 639-1 code of ``token`` (``de``, ``deu``, ``ger``, ``zho-CN``), or None if it is not one.

    A three-letter code that has no two-letter code is returned as it is when ``three_letter_any``
    (a manifest says explicitly that it is a language); file names only accept known codes, so
    that ``wiki.txt`` or ``news.2019.txt`` are not read as languages.
    """
    match = _CODE.match(token.strip())
    if not match:
        return None
    code = match["code"].lower()
    if len(code) == 2:
        return code if code in ISO_639_1 else None
    if code in THREE_TO_ONE:
        return THREE_TO_ONE[code]
    return code if three_letter_any else None


def language_from_filename(path: Path) -> str | None:
    """The language a corpus file's name gives, or None.

    The language is the last dot-separated part of the name before its extension (``wiki.de.txt``,
    ``newstest2019-ref.zho-CN.txt``), or the whole name (``de.txt``), or the first part (``de.wiki.txt``).
    """
    name = Path(path).name
    if name.endswith(".txt"):
        name = name[: -len(".txt")]
    parts = name.split(".")
    for candidate in (parts[-1], parts[0]):
        language = normalize_language(candidate, three_letter_any=False)
        if language:
            return language
    return None
