"""Language names and ISO codes, and how each multilingual tokenizer family spells a language.

A user types "French", "fr" or "fra"; mBART-50 wants `fr_XX`, NLLB `fra_Latn`, M2M100 `fr` (its token is
`__fr__`), a multi-target Marian model `>>fra<<`, and T5 a prefix naming the language in English. This module
turns what the user typed into the model's own code, or says which codes the model has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tui_hf.core.errors import TaskInputError

# ISO 639-1, the ISO 639-3 codes the NLLB/Marian vocabularies use for it (the individual language NLLB picked
# first, then the macrolanguage), and English names. Facts from ISO 639 and the NLLB-200 language list.
_TABLE = """
af afr Afrikaans
ak aka Akan
am amh Amharic
ar arb,ara Arabic
as asm Assamese
ast ast Asturian
ay ayr,aym Aymara
az azj,aze Azerbaijani
ba bak Bashkir
be bel Belarusian
bg bul Bulgarian
bm bam Bambara
bn ben Bengali,Bangla
bo bod Tibetan
br bre Breton
bs bos Bosnian
ca cat Catalan
ceb ceb Cebuano
cs ces Czech
cy cym Welsh
da dan Danish
de deu German
dz dzo Dzongkha
ee ewe Ewe
el ell Greek
en eng English
eo epo Esperanto
es spa Spanish
et est Estonian
eu eus Basque
fa pes,fas Persian,Farsi
ff fuv,ful Fulah,Fula
fi fin Finnish
fj fij Fijian
fo fao Faroese
fr fra French
fy fry Western Frisian,Frisian
ga gle Irish
gd gla Scottish Gaelic,Gaelic
gl glg Galician
gn grn Guarani
gu guj Gujarati
ha hau Hausa
he heb Hebrew
hi hin Hindi
hr hrv Croatian
ht hat Haitian Creole,Haitian
hu hun Hungarian
hy hye Armenian
id ind Indonesian
ig ibo Igbo
ilo ilo Ilocano,Iloko
is isl Icelandic
it ita Italian
ja jpn Japanese
jv jav Javanese
ka kat Georgian
kg kon Kongo
ki kik Kikuyu
kk kaz Kazakh
km khm Khmer
kn kan Kannada
ko kor Korean
ks kas Kashmiri
ku kmr,ckb,kur Kurdish
ky kir Kyrgyz,Kirghiz
lb ltz Luxembourgish
lg lug Ganda,Luganda
li lim Limburgish
ln lin Lingala
lo lao Lao
lt lit Lithuanian
lv lvs,lav Latvian
mg plt,mlg Malagasy
mi mri Maori
mk mkd Macedonian
ml mal Malayalam
mn khk,mon Mongolian
mr mar Marathi
ms zsm,msa Malay
mt mlt Maltese
my mya Burmese,Myanmar
nb nob Norwegian Bokmal,Bokmal
ne npi,nep Nepali
nl nld Dutch,Flemish
nn nno Norwegian Nynorsk,Nynorsk
no nob,nor Norwegian
ns nso Northern Sotho,Sepedi
ny nya Nyanja,Chichewa
oc oci Occitan
or ory,ori Odia,Oriya
pa pan Punjabi,Panjabi
pl pol Polish
ps pbt,pus Pashto
pt por Portuguese
qu quy,que Quechua
rn run Rundi,Kirundi
ro ron Romanian
ru rus Russian
rw kin Kinyarwanda
sa san Sanskrit
sc srd Sardinian
sd snd Sindhi
sg sag Sango
si sin Sinhala,Sinhalese
sk slk Slovak
sl slv Slovenian,Slovene
sm smo Samoan
sn sna Shona
so som Somali
sq als,sqi Albanian
sr srp Serbian
ss ssw Swati
st sot Southern Sotho,Sesotho
su sun Sundanese
sv swe Swedish
sw swh,swa Swahili
ta tam Tamil
te tel Telugu
tg tgk Tajik
th tha Thai
ti tir Tigrinya
tk tuk Turkmen
tl tgl Tagalog,Filipino
tn tsn Tswana
tr tur Turkish
ts tso Tsonga
tt tat Tatar
tw twi Twi
ug uig Uyghur,Uighur
uk ukr Ukrainian
ur urd Urdu
uz uzn,uzb Uzbek
vi vie Vietnamese
wo wol Wolof
xh xho Xhosa
yi ydd,yid Yiddish
yo yor Yoruba
zh zho Chinese
zu zul Zulu
"""


@dataclass(frozen=True)
class Language:
    iso1: str  # the two-letter code (M2M100 also uses a few three-letter ones, e.g. ast, ceb)
    iso3: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.names[0]


def _parse(table: str) -> list[Language]:
    out = []
    for line in table.strip().splitlines():
        iso1, iso3, names = line.split(" ", 2)
        out.append(Language(iso1, tuple(iso3.split(",")), tuple(n.strip() for n in names.split(","))))
    return out


LANGUAGES: list[Language] = _parse(_TABLE)
_BY_KEY: dict[str, Language] = {}
for _lang in LANGUAGES:
    for _key in (_lang.iso1, *_lang.iso3, *(n.lower() for n in _lang.names)):
        _BY_KEY.setdefault(_key.lower(), _lang)


def lookup(text: str) -> Language | None:
    """The language a user means by a name or an ISO 639-1/639-3 code ("French", "fr", "fra")."""
    return _BY_KEY.get(text.strip().lower())


def language_name(code: str) -> str:
    """An English name for a code in any family's spelling (fr, fr_XX, fra_Latn, __fr__, >>fra<<), or ''."""
    bare = code.strip().strip("_").removeprefix(">>").removesuffix("<<")
    lang = lookup(bare.split("_")[0])
    return lang.name if lang else ""


def _base(code: str) -> str:
    """The language part of a family code: fr_XX -> fr, fra_Latn -> fra, >>fra<< -> fra, fr -> fr."""
    return code.removeprefix(">>").removesuffix("<<").split("_")[0].lower()


def resolve(requested: str, codes: Iterable[str], what: str = "language") -> str:
    """The model's own code (one of `codes`) for what the user typed; TaskInputError listing `codes` otherwise.

    An exact code wins; then the language's ISO 639-1 code, then its ISO 639-3 codes in the order NLLB
    prefers them. Several scripts for one language (zho_Hans, zho_Hant) are not guessed between.
    """
    codes = list(codes)
    text = requested.strip()
    if not text:
        raise TaskInputError(f"give a {what}: one of {', '.join(codes)}")
    if text in codes:
        return text
    folded = {c.lower(): c for c in codes}
    if text.lower() in folded:
        return folded[text.lower()]
    lang = lookup(text)
    keys = [lang.iso1, *lang.iso3] if lang else [text.lower()]
    for key in keys:
        found = [c for c in codes if _base(c) == key]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise TaskInputError(
                f"{requested!r} matches several of this model's codes ({', '.join(found)}): give one of them"
            )
    raise TaskInputError(f"this model does not know the {what} {requested!r}; its codes are: {', '.join(codes)}")
