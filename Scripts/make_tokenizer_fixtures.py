#!/usr/bin/env python3
"""Generates the CLIP tokenizer fixtures and character tables (seeded, deterministic).

Run with the reference environment (ftfy, regex, open_clip):
    /work/main/.venv-ref/bin/python Scripts/make_tokenizer_fixtures.py

Writes
  Tests/Fixtures/tokenizer/corpus.jsonl       one JSON object per line:
      text      the input string
      ids       open_clip SimpleTokenizer.encode(text) (raw BPE ids, no SOT/EOT)
      eot       open_clip tokenizer(text) row for context 77, without the padding zeros
      plain     OpenAI simple_tokenizer: [SOT] + encode + [EOT], cut to 77 (no EOT kept), unpadded
      mojibake  (only when true) ftfy's mismatched-encoding repair (fix_encoding) changes this text
      openai    (only when it differs from eot's dialect) marks strings where OpenAI's cleaning
                or special-token spelling gives other ids than open_clip's
  Sources/Datasets/Text/TokenizerTables.swift  character data taken from the reference stack
      (regex module's \\p{L}/\\p{N} classes, Python's str.lower, html.entities.html5,
       html's invalid character references, ftfy's width map and upper-case entities,
       ftfy's mojibake heuristic BADNESS_RE as atoms, UTF8_CLUES classes, and the ten
       single-byte encodings ftfy re-decodes through).

The corpus (seed SEED, 6,004 strings) mixes: short edge cases per category; 2,600 real-looking
captions from a word list with random capitals and punctuation; 400 captions longer than the
context; 1,600 random mixes of accents/diacritics, CJK and fullwidth/halfwidth forms, emoji
(ZWJ, flags, keycaps), HTML entities (named, numeric, invalid, all-caps, unterminated, doubly
escaped, with "<" on the same or an earlier line), curly quotes, odd white space, control
characters and terminal escapes, ligatures, upper-case contractions, special-token literals,
numbers and decomposed/case-special letters; 600 random code-point strings; 200 captions with
known mojibake; 600 generated mojibake strings (UTF-8 read as each ftfy encoding, with byte-A0
loss, U+FFFD loss, double encoding, CESU-8, Java null); a few very long inputs.
"""
import html
import html.entities
import importlib.util
import json
import os
import random
import sys
import unicodedata

import ftfy
import ftfy.bad_codecs  # noqa: F401  (registers the sloppy-* codecs)
import re
import re._parser as sre_parse
from re._constants import ANY, AT, AT_BEGINNING, BRANCH, CATEGORY, IN, LITERAL, MAX_REPEAT, NEGATE, RANGE
import regex
import open_clip
from ftfy import badness, chardata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(ROOT, ".deps", "assets")
SEED = 20260529
CONTEXT = 77

spec = importlib.util.spec_from_file_location("simple_tokenizer", os.path.join(ASSETS, "simple_tokenizer.py"))
openai_mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(openai_mod)
openai_tok = openai_mod.SimpleTokenizer(os.path.join(ASSETS, "bpe_simple_vocab_16e6.txt.gz"))
oc_tok = open_clip.get_tokenizer("RN50")
oc_simple = oc_tok if isinstance(oc_tok, open_clip.tokenizer.SimpleTokenizer) else None
assert oc_simple is not None

# ---------------------------------------------------------------- tables

def ranges(pred):
    out, start = [], None
    for cp in range(0x110000 + 1):
        ok = cp < 0x110000 and not (0xD800 <= cp < 0xE000) and pred(cp)
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append((start, cp - 1))
            start = None
    return out


def swift_string(s):
    out = []
    for ch in s:
        c = ord(ch)
        if ch in '\\"':
            out.append("\\" + ch)
        elif 0x20 <= c < 0x7F:
            out.append(ch)
        else:
            out.append("\\u{%X}" % c)
    return '"' + "".join(out) + '"'


def write_tables():
    L = regex.compile(r"[\p{L}]", regex.IGNORECASE)
    N = regex.compile(r"[\p{N}]", regex.IGNORECASE)
    P = regex.compile(r"[^\s\p{L}\p{N}]", regex.IGNORECASE)
    S = regex.compile(r"\s")
    letters = ranges(lambda c: bool(L.match(chr(c))))
    numbers = ranges(lambda c: bool(N.match(chr(c))))
    spaces = ranges(lambda c: bool(S.match(chr(c))))
    unmatched = ranges(lambda c: not (L.match(chr(c)) or N.match(chr(c)) or P.match(chr(c)) or S.match(chr(c))))
    pyspace = ranges(lambda c: chr(c).isspace())
    lower = [(c, chr(c).lower()) for c in range(0x110000)
             if not (0xD800 <= c < 0xE000) and chr(c).lower() != chr(c)]
    width = sorted(chardata.WIDTH_MAP.items())
    upper_entities = sorted((k[1:], v) for k, v in chardata.HTML_ENTITIES.items()
                            if k[1:] not in html.entities.html5)
    h5 = sorted(html.entities.html5.items())
    from html import _invalid_charrefs, _invalid_codepoints  # type: ignore
    inv_refs = sorted(_invalid_charrefs.items())
    inv_cps = sorted(_invalid_codepoints)

    # ftfy's mojibake heuristic and detectors, as data.
    cat_sets = {}

    def category_set(cat):
        if cat not in cat_sets:
            pat = re.compile({"CATEGORY_SPACE": r"\s", "CATEGORY_WORD": r"\w", "CATEGORY_DIGIT": r"\d"}[str(cat)])
            cat_sets[cat] = ranges(lambda c: bool(pat.match(chr(c))))
        return cat_sets[cat]

    def atom_text(op, av):
        """One atom: kind (S set, N negated set, . any, ^ start), {min,max}, ranges."""
        lo = hi = 1
        if op == MAX_REPEAT:
            lo, hi, sub = av
            assert len(sub) == 1, sub
            op, av = sub[0]
        if op == AT:
            assert av == AT_BEGINNING
            return "^{1,1}"
        if op == ANY:
            return ".{%d,%d}" % (lo, hi)
        if op == LITERAL:
            return "S{%d,%d}%X-%X" % (lo, hi, av, av)
        assert op == IN, (op, av)
        kind, rs = "S", []
        for o, a in av:
            if o == NEGATE:
                kind = "N"
            elif o == LITERAL:
                rs.append((a, a))
            elif o == RANGE:
                rs.append(a)
            elif o == CATEGORY:
                rs.extend(category_set(a))
            else:
                raise ValueError(o)
        return "%s{%d,%d}%s" % (kind, lo, hi, ",".join("%X-%X" % r for r in rs))

    tree = sre_parse.parse(badness.BADNESS_RE.pattern, badness.BADNESS_RE.flags)
    assert len(tree) == 1 and tree[0][0] == BRANCH
    badness_alts = [" ".join(atom_text(op, av) for op, av in alt) for alt in tree[0][1][1]]

    def class_ranges(chars):
        pat = re.compile("[" + chars + "]")
        return ",".join("%X-%X" % r for r in ranges(lambda c: bool(pat.match(chr(c)))))

    clues = chardata.UTF8_CLUES
    encodings = []
    for enc in chardata.CHARMAP_ENCODINGS:
        table = "".join(bytes([b]).decode(enc) for b in range(256))
        encodings.append(enc + "\x1f" + table)

    def rng_list(rs):
        return ",".join("0x%X,0x%X" % r for r in rs)

    lines = [
        "// Generated by Scripts/make_tokenizer_fixtures.py from the reference stack",
        f"// (Python {sys.version.split()[0]}, Unicode {unicodedata.unidata_version}, regex {regex.__version__}, ftfy {ftfy.__version__}). Do not edit.",
        "// swift-format-ignore-file",
        "",
        "enum TokenizerTables {",
        "    /// Closed ranges (pairs) matched by the reference pattern's `[\\p{L}]` (IGNORECASE).",
        f"    static let letterRanges: [UInt32] = [{rng_list(letters)}]",
        "    /// Closed ranges matched by `[\\p{N}]`.",
        f"    static let numberRanges: [UInt32] = [{rng_list(numbers)}]",
        "    /// Closed ranges matched by the regex module's `\\s`.",
        f"    static let regexSpaceRanges: [UInt32] = [{rng_list(spaces)}]",
        "    /// Closed ranges that no alternative of the pattern matches (skipped like spaces).",
        f"    static let unmatchedRanges: [UInt32] = [{rng_list(unmatched)}]",
        "    /// Closed ranges where Python's `str.isspace()` is true.",
        f"    static let pythonSpaceRanges: [UInt32] = [{rng_list(pyspace)}]",
        "    /// Python `str.lower()` of single scalars that change: `code\\u{1F}lowered\\u{1E}`…",
        "    static let lowercase = " + swift_string("".join("%X\x1f%s\x1e" % (c, s) for c, s in lower)),
        "    /// ftfy's halfwidth/fullwidth map: `code\\u{1F}replacement\\u{1E}`…",
        "    static let width = " + swift_string("".join("%X\x1f%s\x1e" % (c, s) for c, s in width)),
        "    /// `html.entities.html5`: `name\\u{1F}value\\u{1E}`… (names with or without `;`).",
        "    static let html5 = " + swift_string("".join("%s\x1f%s\x1e" % (k, v) for k, v in h5)),
        "    /// ftfy's extra all-caps entities (`EACUTE;` → `É`), same format.",
        "    static let upperEntities = " + swift_string("".join("%s\x1f%s\x1e" % (k, v) for k, v in upper_entities)),
        "    /// Python `html._invalid_charrefs`: numeric references replaced by another character.",
        "    static let invalidCharrefs: [UInt32: Unicode.Scalar] = [" +
        ",".join("0x%X:\"\\u{%X}\"" % (k, ord(v)) for k, v in inv_refs) + "]",
        "    /// Python `html._invalid_codepoints`: numeric references that decode to nothing.",
        "    static let invalidCodepoints: Set<UInt32> = [" + ",".join("0x%X" % c for c in inv_cps) + "]",
        "    /// ftfy's `BADNESS_RE`: one alternative per line, atoms separated by spaces; an atom is",
        "    /// `S` (set), `N` (negated set), `.` (any but newline) or `^` (start), `{min,max}`, ranges.",
        "    static let badness = " + swift_string("\n".join(badness_alts)),
        "    /// `UTF8_CLUES` character classes of ftfy's `UTF8_DETECTOR_RE` (ranges `lo-hi,…`).",
        "    static let utf8ContinuationStrict = " + swift_string(class_ranges(clues["utf8_continuation_strict"])),
        "    static let utf8Continuation = " + swift_string(class_ranges(clues["utf8_continuation"])),
        "    static let utf8FirstOf2 = " + swift_string(class_ranges(clues["utf8_first_of_2"])),
        "    static let utf8FirstOf3 = " + swift_string(class_ranges(clues["utf8_first_of_3"])),
        "    static let utf8FirstOf4 = " + swift_string(class_ranges(clues["utf8_first_of_4"])),
        "    /// ftfy's `CHARMAP_ENCODINGS` in order: `name\\u{1F}` + the 256 characters bytes 0…255 decode to.",
        "    static let charmapEncodings: [String] = [" + ", ".join(swift_string(e) for e in encodings) + "]",
        "}",
        "",
    ]
    path = os.path.join(ROOT, "Sources", "Datasets", "Text", "TokenizerTables.swift")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print("wrote", path, len(letters), len(numbers), len(lower), len(h5))

# ---------------------------------------------------------------- corpus

WORDS = """a an the of in on at with and or by for from to near under over two three several many
dog dogs cat cats man woman child children people person girl boy player team car bus train bicycle
street road city beach mountain river lake forest field park house room kitchen table chair bed
window door tree trees flower flowers grass snow water sky sun cloud clouds rain night day sunset
red blue green yellow black white brown orange pink purple grey gray small large big little old
young happy smiling running walking sitting standing playing eating holding looking riding wearing
shirt hat dress jacket ball frisbee kite surfboard skateboard umbrella phone laptop book pizza cake
sandwich coffee cup plate bowl bottle glass sign stop light traffic airplane boat horse cow sheep
elephant giraffe zebra bear bird birds image photo picture illustration vector stock background
portrait view closeup close-up aerial vintage modern abstract cartoon drawing painting texture pattern
isolated seamless design logo icon set collection style concept business wedding christmas summer
winter spring autumn fall holiday travel tourism food fashion model actor actress celebrity arrives
premiere event festival concert football soccer basketball baseball tennis golf match game season
""".split()
ACCENTED = "café naïve résumé Ångström São Paulo Straße İstanbul Zürich Ærøskøbing crème brûlée jalapeño façade Dvořák Łódź Kraków Ελλάδα ΟΔΟΣ ΣΊΣΥΦΟΣ Москва Україна العربية עברית हिन्दी ไทย Tiếng Việt ǅemal ǈubljana".split()
CJK = ["東京タワーの夜景", "北京天安门广场", "서울의 밤거리", "日本の桜", "猫が寝ている", "ＬＯＵＤ　ＮＯＩＳＥＳ",
       "ｶﾀｶﾅ ﾃｽﾄ", "Ｕﾀｰﾝ", "中文，标点。", "「引用」", "香港 2019年", "한국어 텍스트", "漢字かなカナ"]
EMOJI = ["😀", "😂", "🐶", "🍕", "❤️", "👍🏽", "🇺🇸", "🇯🇵", "👨‍👩‍👧‍👦", "🏳️‍🌈", "1️⃣", "✨", "🎉", "☕", "⚽", "🤖", "🧑🏿‍🚀"]
ENTITIES = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x27;", "&eacute;", "&EACUTE;", "&Eacute;", "&nbsp;",
            "&amp;amp;", "&amp;amp;amp;", "&ampx", "&amp", "&notit;", "&not", "&copy", "&copy;", "&COPY;", "&#128512;",
            "&#0;", "&#x80;", "&#x9F;", "&#xD800;", "&#1114112;", "&#99999999999;", "&#65;", "&#x41", "&#X41;",
            "&hellip;", "&mdash;", "&rsquo;", "&ldquo;", "&rdquo;", "&SZLIG;", "&NTILDE;", "&nTILDE;", "&Jscr;",
            "&HilbertSpace;", "&checkmark;", "&#11;", "&#28;", "&#127;", "&#x2028;", "&#65279;", "&lt;b&gt;",
            "&amp;eacute;", "&amp;#39;", "&frac12;", "&frac12", "&AElig", "&aeligx", "&unknown;", "&;", "&#;", "&#x;",
            "&NewLine;", "&Tab;", "&ThickSpace;", "&nbsp", "&#160;", "&#x1F600;", "&#8217;s", "&zwj;", "&lang;"]
QUOTES = ["‘", "’", "‚", "‛", "“", "”", "„", "‟", "ʼ", "′", "″", "«", "»", "‹", "›", "`", "´"]
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u2003", "\u3000", "\u200b", "\u2028", "\u2029",
          "\u0085", "\u000b", "\u000c", "\u001c", "\u1680", "\u202f", "\u205f", "\ufeff", "\u200d", "\u00ad"]
CONTROLS = ["\x00", "\x07", "\x1b[31m", "\x1b[0m", "\x1b[1;32m", "\x7f", "\x80", "\x81", "\x85", "\x8d", "\x91",
            "\x92", "\x93", "\x96", "\x9f", "\u206a", "\ufff9", "\ufffc", "\ufffd", "\x1b", "\x1b[", "\x1b[5"]
LIGATURES = ["ﬁ", "ﬂ", "ﬀ", "ﬃ", "ﬄ", "ﬅ", "ﬆ", "Ĳ", "ĳ", "ŉ", "Ǳ", "ǅ", "ǉ", "Ǌ", "æ", "œ"]
CONTRACTIONS = ["IT'S", "WE'LL", "I'M", "THEY'RE", "YOU'VE", "SHE'D", "DON'T", "'S", "'T", "'RE", "'Ll",
                "it's", "we'll", "'ſ", "'ſt", "''s", "'''", "rock'n'roll", "o'clock", "'90s", "’s", "ʼs"]
SPECIAL = ["<start_of_text>", "<end_of_text>", "<|startoftext|>", "<|endoftext|>", "<START_OF_TEXT>",
           "<|ENDOFTEXT|>", "!<start_of_text>", "<ſtart_of_text>", "<end_of_text", "<|endoftext|>!"]
NUMBERS = ["3.14", "1,000,000", "2024-05-01", "$12.99", "50%", "1st", "22nd", "10:30pm", "½", "²", "Ⅻ", "٣",
           "१२३", "①", "007", "1e10", "-5", "+44 20 7946 0958", "#1", "v2.0.1", "100km/h", "4K", "٠١٢", "𝟙𝟚"]
MOJIBAKE = ["cafÃ©", "â€™", "donâ€™t", "Ã¼ber", "sÃ³", "voilÃ le travail", "Ã¢â‚¬Å“quoteÃ¢â‚¬Â", "âœ” No problems",
            "Ã©tÃ©", "ÐŸÑ€Ð¸Ð²ÐµÑ‚", "&macr;\\_(ã\x83\x84)_/&macr;", "Ã\xa0 la", "æ—¥æœ¬", "â€œHelloâ€\x9d"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["...", "…", "—", "–", "·", "•", "§", "¶", "©", "®", "™", "°",
                                                   "±", "×", "÷", "€", "£", "¥", "¢", "¤", "¿", "¡", "†", "‡", "‰"]
DECOMPOSED = ["e\u0301", "a\u0308", "n\u0303", "A\u030a", "\u1100\u1161", "o\u0302\u0301", "\u0345", "α\u0345",
              "i\u0307", "ſ", "K", "Å", "ẞ", "ǅ", "Σ", "ᾼ", "ﬃ", "\U0001d400", "ß", "\uac54\u11ac", "걔ﾥ",
              "\u1100\u1161\u11a8", "ﾡﾢ각ﾣ"]


def caption(rng, n):
    words = []
    for _ in range(n):
        w = rng.choice(WORDS)
        r = rng.random()
        if r < 0.1:
            w = w.capitalize()
        elif r < 0.13:
            w = w.upper()
        words.append(w)
    s = " ".join(words)
    if rng.random() < 0.5:
        s += rng.choice([".", "!", "?", "", "...", " .", ","])
    return s


def rand_unicode(rng):
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
              (0x1E00, 0x1FFF), (0x2000, 0x2BFF), (0x3000, 0x30FF), (0x4E00, 0x4FFF), (0xAC00, 0xACFF),
              (0xFB00, 0xFB4F), (0xFE00, 0xFFFF), (0x1D400, 0x1D7FF), (0x1F300, 0x1FAFF), (0x0, 0x1F), (0x80, 0x9F),
              (0x10000, 0x1FFFF), (0xE000, 0xE0FF), (0xE0000, 0xE007F)]
    out = []
    for _ in range(rng.randint(1, 20)):
        a, b = rng.choice(blocks)
        out.append(chr(rng.randint(a, b)))
    return "".join(out)


def mix(rng):
    pools = [WORDS, ACCENTED, CJK, EMOJI, ENTITIES, QUOTES, SPACES, CONTROLS, LIGATURES, CONTRACTIONS, SPECIAL,
             NUMBERS, PUNCT, DECOMPOSED]
    parts = []
    for _ in range(rng.randint(1, 12)):
        pool = rng.choice(pools)
        parts.append(rng.choice(pool))
        parts.append(rng.choice([" ", " ", " ", "", "  ", "\n"]))
    return "".join(parts)


def build_corpus():
    rng = random.Random(SEED)
    texts = ["", " ", "\n\t", "a", "A", "!", "0", "hello world", "Hello, World!", "a photo of a dog.",
             "a photo of a {}.", "itap of a cat.", "a bad photo of the Goldfish."]
    for pool in [ACCENTED, CJK, EMOJI, ENTITIES, QUOTES, CONTROLS, LIGATURES, CONTRACTIONS, SPECIAL, NUMBERS,
                 PUNCT, DECOMPOSED, MOJIBAKE]:
        texts.extend(pool)
        texts.extend("x" + p + "y" for p in pool)
        texts.extend("The " + p + " dog" for p in pool)
    texts.extend("a" + s + "b" for s in SPACES)
    texts.extend(s + "word" + s for s in SPACES)
    # Entities with "<" elsewhere on the same line or an earlier line (ftfy's "auto" HTML mode).
    texts.extend(["<b>&eacute;</b>", "&EACUTE; <", "&EACUTE;\n<", "<\n&EACUTE;", "a &lt; b < c &EACUTE;"])
    while len(texts) < 2600:
        texts.append(caption(rng, rng.randint(3, 25)))
    while len(texts) < 3000:
        texts.append(caption(rng, rng.randint(60, 140)))  # longer than the context
    while len(texts) < 4600:
        texts.append(mix(rng))
    while len(texts) < 5200:
        texts.append(rand_unicode(rng))
    while len(texts) < 5400:
        s = caption(rng, rng.randint(3, 12))
        i = rng.randint(0, len(s))
        texts.append(s[:i] + rng.choice(MOJIBAKE) + s[i:])
    # Generated mojibake: UTF-8 read as each of ftfy's single-byte encodings, with the usual
    # extra damage (A0 turned into a space, lost bytes, double encoding, only one word broken).
    encs = chardata.CHARMAP_ENCODINGS + ["windows-1252", "utf-8"]
    sources = ACCENTED + CJK + EMOJI + QUOTES + PUNCT[32:] + LIGATURES
    while len(texts) < 6000:
        words = [rng.choice(sources) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.6:
            words.insert(rng.randint(0, len(words)), caption(rng, rng.randint(1, 5)))
        plain = " ".join(words)
        enc = rng.choice(encs)
        target = plain if rng.random() < 0.7 else words[0]
        raw = target.encode("utf-8")
        if rng.random() < 0.05:
            raw = raw.replace("😀".encode("utf-8"), "😀".encode("utf-16-be").decode("utf-16-be", "surrogatepass")
                              .encode("utf-8", "surrogatepass"))  # CESU-8
            raw += b" \xc0\x80" if rng.random() < 0.5 else b""
        broken = raw.decode(enc, errors="replace")
        r = rng.random()
        if r < 0.15:
            broken = broken.replace("\xa0", " ")
        elif r < 0.25:
            broken = "".join("\ufffd" if rng.random() < 0.1 and ord(c) > 0x7F else c for c in broken)
        elif r < 0.35:
            broken = broken.encode("utf-8").decode(rng.choice(encs[:3]), errors="replace")
        texts.append(plain.replace(target, broken, 1) if target != plain else broken)
    # Very long inputs made of single-token characters and long words.
    texts.append("!" * 200)
    texts.append("a " * 100)
    texts.append(("supercalifragilisticexpialidocious" * 8))
    texts.append(" ".join(str(i) for i in range(100)))
    return texts


def reference_row(ids, truncation):
    tokens = [oc_simple.sot_token_id] + ids + [oc_simple.eot_token_id]
    if len(tokens) > CONTEXT:
        tokens = tokens[:CONTEXT]
        if truncation == "eot":
            tokens[-1] = oc_simple.eot_token_id
    return tokens


def main():
    write_tables()
    texts = build_corpus()
    out_path = os.path.join(ROOT, "Tests", "Fixtures", "tokenizer", "corpus.jsonl")
    n_moji = n_diff = 0
    with open(out_path, "w") as f:
        for t in texts:
            ids = oc_simple.encode(t)
            row = oc_tok([t], context_length=CONTEXT)[0].tolist()
            eot = reference_row(ids, "eot")
            assert row == eot + [0] * (CONTEXT - len(eot)), t
            oa = [openai_tok.encoder["<|startoftext|>"]] + openai_tok.encode(t) + [openai_tok.encoder["<|endoftext|>"]]
            rec = {"text": t, "ids": ids, "eot": eot, "plain": oa[:CONTEXT]}
            if oa[:CONTEXT] != reference_row(ids, "plain"):
                rec["openai"] = True
                n_diff += 1
            if ftfy.fix_text(t) != ftfy.fix_text(t, fix_encoding=False):
                n_moji += 1
                rec["mojibake"] = True
            f.write(json.dumps(rec, ensure_ascii=True) + "\n")
    print("wrote", out_path, len(texts), "strings;", n_moji, "mojibake;", n_diff, "openai-dialect differences")


if __name__ == "__main__":
    main()
