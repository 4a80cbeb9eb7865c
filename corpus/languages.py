"""What MediaWiki knows per content language and a dump does not carry: link trails and the local
names of the File and Category namespaces.

A dump's `<siteinfo>` lists the namespaces of its wiki but not the aliases MediaWiki adds from the
language files (`Image:` and `Bild:` on German wikis, `分類:` next to `分类:` on Chinese ones), and
not the language's `$linkTrail` (the letters glued after `]]` that join a link's text: `[[Ρωσία]]ς`).
The tables below restate those values from MediaWiki's `languages/messages/MessagesXx.php` for the
languages people pretrain on most; a language not listed gets any Unicode letter as its trail and only
the names in its siteinfo.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# `$linkTrail` character classes. An empty string: the language has no trail (CJK).
LINK_TRAILS: dict[str, str] = {
    "en": "a-z",
    "simple": "a-z",
    "de": "a-zäöüß",
    "fr": "a-zàâçéèêîôûäëïöüùÇÉÂÊÎÔÛÄËÏÖÜÀÈÙ",
    "vi": "a-zàâçéèêîôûäëïöüùÇÉÂÊÎÔÛÄËÏÖÜÀÈÙ",
    "es": "a-zàáèéìíòóùúñç",
    "it": "a-zàéèíîìóòúù",
    "pt": "áâãàéêẽçíòóôõq̃úüűũa-z",
    "nl": "a-zäöüïëéèà",
    "sv": "a-zåäöéÅÄÖÉ",
    "pl": "a-zęóąśłżźćńĘÓĄŚŁŻŹĆŃ",
    "ru": "a-zабвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    "uk": "a-zабвгдеєжзиіїйклмнопрстуфхцчшщьюяґ’`",
    "el": "a-zαβγδεζηθικλμνξοπρστυφχψωςΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩάέήίόύώϊϋΐΰΆΈΉΊΌΎΏΪΫ",
    "ar": "a-zء-ي",
    "he": "a-zא-ת",
    "fa": "a-zآ-ی",
    "zh": "",
    "ja": "",
    "ko": "",
    "th": "",
}
# Unknown languages: any letter (Python's `[^\W\d_]`), which is what a reader expects of a trail.
DEFAULT_TRAIL = r"^\W\d_"

# Local names and aliases of the File (6) and Category (14) namespaces: the links a cleaner must drop
# (embeds, categories) whatever spelling a page uses. Canonical English names are valid everywhere.
LOCAL_NAMESPACES: dict[str, dict[int, tuple[str, ...]]] = {
    "de": {6: ("Datei", "Bild"), 14: ("Kategorie",)},
    "fr": {6: ("Fichier", "Image"), 14: ("Catégorie",)},
    "es": {6: ("Archivo", "Imagen"), 14: ("Categoría",)},
    "it": {6: ("File", "Immagine"), 14: ("Categoria",)},
    "pt": {6: ("Ficheiro", "Arquivo", "Imagem"), 14: ("Categoria",)},
    "nl": {6: ("Bestand", "Afbeelding"), 14: ("Categorie",)},
    "sv": {6: ("Fil", "Bild"), 14: ("Kategori",)},
    "pl": {6: ("Plik", "Grafika"), 14: ("Kategoria",)},
    "ru": {6: ("Файл", "Изображение"), 14: ("Категория",)},
    "uk": {6: ("Файл", "Зображення"), 14: ("Категорія",)},
    "el": {6: ("Αρχείο", "Εικόνα"), 14: ("Κατηγορία",)},
    "ar": {6: ("ملف", "صورة"), 14: ("تصنيف",)},
    "he": {6: ("קובץ", "תמונה"), 14: ("קטגוריה",)},
    "fa": {6: ("پرونده", "تصویر"), 14: ("رده",)},
    "vi": {6: ("Tập tin", "Hình"), 14: ("Thể loại",)},
    "zh": {6: ("File", "文件", "檔案", "档案", "图像", "圖像"), 14: ("Category", "分类", "分類")},
    "ja": {6: ("ファイル", "画像"), 14: ("カテゴリ",)},
    "ko": {6: ("파일", "그림"), 14: ("분류",)},
    "tr": {6: ("Dosya", "Resim"), 14: ("Kategori",)},
}

# `elwikivoyage` -> `el`; `zh_yuewiki` -> `zh-yue`.
_DBNAME_RE = re.compile(
    r"^([a-z_]+?)(?:wiki|wikivoyage|wiktionary|wikibooks|wikinews|wikiquote|wikisource|wikiversity)$"
)


def language_of(dbname: str = "", xml_lang: str | None = None, base: str = "") -> str:
    """The content language of a dump: the root's `xml:lang`, else the dbname's prefix, else the
    `<base>` URL's subdomain; "" when none says."""
    if xml_lang:
        return xml_lang.strip().lower()
    m = _DBNAME_RE.match(dbname.strip().lower())
    if m:
        return m.group(1).replace("_", "-")
    host = urlsplit(base).hostname or ""
    if host.count(".") >= 2 and host.split(".")[-2] in {"wikipedia", "wikivoyage", "wiktionary"}:
        return host.split(".")[0]
    return ""


def link_trail_class(language: str) -> str:
    """The regex character class (without brackets) of the letters a link trail may hold."""
    base = language.split("-")[0]
    return LINK_TRAILS.get(language, LINK_TRAILS.get(base, DEFAULT_TRAIL))


def local_namespace_names(language: str) -> dict[int, tuple[str, ...]]:
    return LOCAL_NAMESPACES.get(language, LOCAL_NAMESPACES.get(language.split("-")[0], {}))
