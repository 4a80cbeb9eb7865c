"""Rebuild `wikipedia.json` from the MediaWiki siteinfo collection (see README.md here):

    python -m corpus.site.sitedata.convert SITEINFO.json DISAMBIGUATION.json corpus/site/sitedata/wikipedia.json

Only what the extractor reads is kept (about 0.4 MB instead of 4 MB): per wiki, every namespace's
names (local, canonical and aliases), the localized `#REDIRECT` keywords, the `__DISAMBIG__`
switch and the disambiguation templates (without their namespace prefix); and once for all wikis, the
behaviour switches (`__NOTOC__`, `__AUCUNSOMMAIRE__`...) that must not reach the text and the image
options (`thumb`, `vignette`, `bélyegkép`...) that tell an embed's caption from prose.
"""

from __future__ import annotations

import json
import sys


def convert(siteinfo: dict, disambiguation: dict) -> dict:
    wikis: dict[str, dict] = {}
    switches: set[str] = set()
    image_options: set[str] = set()
    for lang, info in sorted(siteinfo.items()):
        namespaces = {}
        for key, ns in info["namespaces"].items():
            if key == "0":
                continue
            names = [ns.get("name", ""), ns.get("canonical", ""), *info["namespace_aliases"].get(key, [])]
            namespaces[key] = list(dict.fromkeys(n for n in names if n))
        magic = info["magic_words"]
        entry: dict = {"ns": namespaces, "redirect": magic.get("redirect", [])}
        if magic.get("disambiguation"):
            entry["disambig"] = magic["disambiguation"]
        if lang in disambiguation:
            entry["disambig_templates"] = sorted({t.partition(":")[2] or t for t in disambiguation[lang]})
        wikis[lang] = entry
        for word, aliases in magic.items():
            switches.update(a for a in aliases if len(a) > 4 and a.startswith("__") and a.endswith("__"))
            if word.startswith("img_"):
                image_options.update(a for a in aliases if "$1" not in a)
    return {"wikis": wikis, "switches": sorted(switches), "image_options": sorted(image_options)}


def main() -> None:
    siteinfo_path, disambiguation_path, out = sys.argv[1:4]
    with open(siteinfo_path, encoding="utf-8") as f:
        siteinfo = json.load(f)
    with open(disambiguation_path, encoding="utf-8") as f:
        disambiguation = json.load(f)
    data = convert(siteinfo, disambiguation)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
