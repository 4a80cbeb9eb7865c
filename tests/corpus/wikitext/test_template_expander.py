"""Templates expanded from the input's own definitions (namespace 10): parameters, #if, #ifeq,
#switch, nesting, limits; and `corpus.expand_templates` end to end."""

from __future__ import annotations

import pyarrow.parquet as pq

from corpus.config import CorpusConfig
from corpus.extract.launch import run_extract
from corpus.site.siteinfo import SiteInfo
from corpus.wikitext.clean import clean_wikitext
from corpus.wikitext.template_expander import MAX_DEPTH, TemplateLibrary, transcluded


def library() -> TemplateLibrary:
    lib = TemplateLibrary()
    lib.add("Listing", "'''{{{name}}}'''{{#if:{{{alt|}}}| ({{{alt}}})}}. {{{content|}}}")
    lib.add("Kind", "{{#switch:{{{1}}}|a|b=first two|c=third|#default=other}}")
    lib.add("Same", "{{#ifeq:{{{1}}}|01|equal|different}}")
    lib.add("Distance", "{{convert|{{{1}}}|km}} from {{{from|here}}}")
    lib.add("Outer", "<noinclude>Documentation. </noinclude>[[{{{1}}}]] and {{Kind|{{{2}}}}}")
    lib.add("Lua", "{{#invoke:Module|main|{{{1}}}}}")
    lib.add("Loop", "x{{Loop}}")
    lib.add("Kind alias", "#REDIRECT [[Template:Kind]]", redirect="Template:Kind")
    return lib


def clean(text: str, lib: TemplateLibrary | None = None) -> str:
    return clean_wikitext(text, "Page", SiteInfo.default("en"), templates=lib or library()).text


def test_parameters_and_parser_functions():
    assert clean("See {{listing|name=Museum|alt=Μουσείο|content=Open daily.}}") == (
        "See Museum (Μουσείο). Open daily."
    )
    assert clean("{{Kind|a}}, {{Kind|b}}, {{kind|c}}, {{Kind|z}}, {{Kind alias|c}}") == (
        "first two, first two, third, other, third"
    )
    assert clean("{{Same|1}} {{Same|1.0}} {{Same|x}}") == "equal equal different"


def test_registry_templates_in_a_definition_are_rendered_and_links_kept():
    assert clean("It is {{Distance|5}}.") == "It is 5 km from here."
    page = clean_wikitext("{{Outer|Athens|c}}", "Page", SiteInfo.default("en"), templates=library())
    assert page.text == "Athens and third"
    assert [(link.target, link.kind) for link in page.links] == [("Athens", "body")]


def test_what_it_cannot_expand_is_dropped_as_before():
    assert clean("a {{Lua|x}} b") == "a b"  # Lua
    assert clean("a {{Loop}} b") == "a b"  # deeper than MAX_DEPTH
    assert MAX_DEPTH < 40
    assert clean("a {{Unknown|x}} b") == "a b"
    assert clean_wikitext("a {{Kind|a}} b", "Page", SiteInfo.default("en")).text == "a b"  # no library


def test_only_what_a_call_includes():
    assert transcluded("a<noinclude>doc</noinclude>b<includeonly>c</includeonly>") == "abc"
    assert transcluded("doc <onlyinclude>x</onlyinclude> more <onlyinclude>y</onlyinclude>") == "xy"


DUMP = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="el">
  <siteinfo><dbname>elwiki</dbname><case>first-letter</case>
    <namespaces><namespace key="0" case="first-letter" />
    <namespace key="10" case="first-letter">Πρότυπο</namespace></namespaces></siteinfo>
  <page><title>Αθήνα</title><ns>0</ns><id>1</id><revision><id>11</id><text xml:space="preserve">Η [[Αθήνα]] έχει {{Πληθυσμός|Αθήνα}} κατοίκους, {{Πυκνότητα|664046|39}} ανά km².</text></revision></page>
  <page><title>Πρότυπο:Πληθυσμός</title><ns>10</ns><id>2</id><revision><id>12</id>
    <text xml:space="preserve">{{#switch:{{{1}}}|Αθήνα=664.046|Πάτρα=215.922|#default=?}}&lt;noinclude&gt;Τεκμηρίωση.&lt;/noinclude&gt;</text></revision></page>
  <page><title>Πρότυπο:Πυκνότητα</title><ns>10</ns><id>3</id><revision><id>13</id>
    <text xml:space="preserve">{{#expr:{{{1}}}/{{{2}}} round 0}}</text></revision></page>
</mediawiki>
"""


def test_expand_templates_reads_the_inputs_template_pages(tmp_path):
    path = tmp_path / "dump.xml"
    path.write_text(DUMP, encoding="utf-8")
    texts = {}
    for expand in (False, True):
        out = tmp_path / f"out-{expand}"
        stats = run_extract(CorpusConfig(expand_templates=expand), [str(path)], str(out))
        assert stats["articles"] == 1
        table = pq.read_table(out / "docs").to_pylist()
        texts[expand] = table[0]["text"]
    assert texts[False] == "Η Αθήνα έχει κατοίκους, ανά km²."
    assert texts[True] == "Η Αθήνα έχει 664.046 κατοίκους, 17027 ανά km²."


def test_a_call_from_the_page_may_hold_calls():
    assert clean("{{Outer|Athens|{{Kind|c}}}}") == "Athens and other"  # `third` is not a case of Kind
    assert clean("{{Listing|name={{Kind|a}}|content=x {{Same|01}}}}") == "first two. x equal"


def _multistream(tmp_path):
    """A multistream dump (header, three page streams, footer) and its index; the template page sits
    in the middle stream only."""
    import bz2

    head_end = DUMP.index("</siteinfo>") + len("</siteinfo>")
    header, footer = DUMP[:head_end] + "\n", "</mediawiki>\n"
    page = '  <page><title>{t}</title><ns>{ns}</ns><id>{id}</id><revision><id>{id}</id><text xml:space="preserve">{x}</text></revision></page>\n'
    use = "Η {t} έχει {{{{Πληθυσμός|Αθήνα}}}} κατοίκους."
    streams = [
        [("Α", 0, 1, use.format(t="Α")), ("Β", 0, 2, "Κείμενο.")],
        [
            ("Πρότυπο:Πληθυσμός", 10, 3, "{{#switch:{{{1}}}|Αθήνα=664.046|#default=?}}"),
            ("Γ", 0, 4, "Κείμενο."),
        ],
        [("Δ", 0, 5, use.format(t="Δ")), ("Ε", 0, 6, "Κείμενο.")],
    ]
    blobs = [bz2.compress(header.encode())]
    index = []
    for stream in streams:
        offset = sum(len(b) for b in blobs)
        text = "".join(page.format(t=t, ns=ns, id=i, x=x) for t, ns, i, x in stream)
        blobs.append(bz2.compress(text.encode()))
        index += [f"{offset}:{i}:{t}" for t, _, i, _ in stream]
    blobs.append(bz2.compress(footer.encode()))
    path = tmp_path / "elwiki-multistream.xml.bz2"
    path.write_bytes(b"".join(blobs))
    index_path = tmp_path / "elwiki-multistream-index.txt.bz2"
    index_path.write_bytes(bz2.compress(("\n".join(index) + "\n").encode()))
    return path, index_path


def test_a_multistream_dump_is_read_only_where_its_index_names_template_pages(tmp_path):
    from corpus.readers.template_pages import collect_templates

    path, index = _multistream(tmp_path)
    scan = collect_templates([str(path)], {str(path): index})
    assert (scan.streams_read, scan.streams_total, scan.whole_files) == (1, 3, 0)
    assert "πληθυσμός" in scan.library
    whole = collect_templates([str(path)], {str(path): None})
    assert whole.whole_files == 1 and whole.library.bodies == scan.library.bodies
    stats = run_extract(CorpusConfig(expand_templates=True, tasks=2), [str(path)], str(tmp_path / "out"))
    assert stats["articles"] == 5
    texts = {row["id"]: row["text"] for row in pq.read_table(tmp_path / "out" / "docs").to_pylist()}
    assert texts[1] == "Η Α έχει 664.046 κατοίκους." and texts[5] == "Η Δ έχει 664.046 κατοίκους."
