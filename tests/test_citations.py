"""docs/math.md is the one document the code cites, so the citations must stay true.

- every section sign followed by a number, in the library, viz/, the tests, the benchmarks,
  the notebooks, the README and docs/math.md itself, names a section that math.md has;
- no file still cites the document that math.md replaced, by its name or its file name;
- math.md renders: its display math is balanced, its inline math stays on one line, and
  no section is empty;
- the numbers of its worked example are the ones `python -m tinygrad_lstm example` prints.
"""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MATH = ROOT / "docs" / "math.md"
SIGN = "\u00a7"     # the section sign, spelled so that this file cites nothing itself

NUMBER = r"\d+(?:\.\d+)*"
# "<sign>3.3", "<sign>5.3." (a full stop after it), "<sign>4.2-4.4" or "<sign>4.2–4.4" (a range)
CITATION = re.compile(SIGN + rf"\s?({NUMBER})(?:\s?[-–]\s?{SIGN}?({NUMBER}))?")
# the old document: "math spec" (also wrapped over two lines) and its file name
OLD_NAMES = [re.compile(r"\bmath\s+spec\b", re.IGNORECASE), re.compile(r"lstm-math(?:\.md)?", re.IGNORECASE)]


def _lines_outside_code(text):
    """(line number, line) of a Markdown text, without its fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def _headings(text):
    """[(line number, level, section number or None, title)] of the Markdown headings."""
    found = []
    for number, line in _lines_outside_code(text):
        m = re.match(r"(#{1,6})\s+(.*)", line)
        if m:
            level, title = len(m.group(1)), m.group(2).strip()
            numbered = re.match(r"(\d+)\.\s" if level == 2 else r"(\d+\.\d+)\s", title + " ")
            found.append((number, level, numbered.group(1) if numbered and level in (2, 3) else None, title))
    return found


def sections():
    """The section numbers math.md defines: "1" from "## 1. …", "1.4" from "### 1.4 …"."""
    return {section for _, _, section, _ in _headings(MATH.read_text(encoding="utf-8")) if section}


def _scanned_files():
    """Everything that may cite math.md (and so must not cite the old document)."""
    this = Path(__file__).resolve()
    files = [ROOT / "README.md", MATH]
    for folder in ("tinygrad_lstm", "viz", "tests", "benchmarks", "docs", "notebooks"):
        for pattern in ("*.py", "*.ipynb"):
            files += sorted((ROOT / folder).rglob(pattern))
    return [f for f in dict.fromkeys(files)
            if f.is_file() and f.resolve() != this and ".ipynb_checkpoints" not in f.parts]


def _texts(path):
    """(where, text) pieces of a file: the whole file, or each cell of a notebook."""
    raw = path.read_text(encoding="utf-8")
    name = path.relative_to(ROOT).as_posix()
    if path.suffix != ".ipynb":
        return [(name, raw)]
    cells = json.loads(raw).get("cells", [])
    return [(f"{name} cell {k}", "".join(c.get("source", ""))) for k, c in enumerate(cells, 1)]


def _line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def cited_sections(text):
    """[(line, section)] for every citation in text; a range gives both of its ends."""
    cited = []
    for m in CITATION.finditer(text):
        first, last = m.group(1), m.group(2)
        line = _line_of(text, m.start())
        cited.append((line, first))
        if last:
            if "." in first and "." not in last:       # "4.2-4" means 4.2 to 4.4
                last = first.rsplit(".", 1)[0] + "." + last
            cited.append((line, last))
    return cited


# --- the citation parser itself -----------------------------------------------------------

def test_the_citation_parser_reads_single_sections_ranges_and_a_final_full_stop():
    s = SIGN
    text = f"see {s}1.4 and {s}5.2;\n{s}4.2-4.4, {s}3.5 and {s}5.3. Also {s}4.2–{s}4.3 and {s}2.\n{s}4.2-4"
    assert cited_sections(text) == [(1, "1.4"), (1, "5.2"), (2, "4.2"), (2, "4.4"), (2, "3.5"), (2, "5.3"),
                                    (2, "4.2"), (2, "4.3"), (2, "2"), (3, "4.2"), (3, "4.4")]


def test_math_md_has_the_sections_the_code_is_written_against():
    expected = {str(n) for n in range(7)} | {
        "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7",
        "2.1", "2.2", "2.3", "2.4", "2.5",
        "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7",
        "4.1", "4.2", "4.3", "4.4", "4.5",
        "5.1", "5.2", "5.3", "5.4"}
    missing = expected - sections()
    assert not missing, f"docs/math.md has no section {', '.join(sorted(missing))}"


# --- every citation names a section that exists ------------------------------------------

def test_every_cited_section_exists_in_math_md():
    known = sections()
    files = _scanned_files()
    assert any(f.name == "bptt.py" for f in files), "the scan should reach tinygrad_lstm/bptt.py"
    dangling, count = [], 0
    for path in files:
        for where, text in _texts(path):
            for line, section in cited_sections(text):
                count += 1
                if section not in known:
                    dangling.append(f"{where}:{line}: {SIGN}{section}")
    assert count > 50, f"expected the code to cite docs/math.md often; found {count} citations"
    assert not dangling, ("these citations name no section of docs/math.md (its sections: "
                          f"{', '.join(sorted(known, key=_key))}):\n  " + "\n  ".join(dangling))


def _key(section):
    return tuple(int(part) for part in section.split("."))


def test_no_file_cites_the_old_math_document():
    stale = []
    for path in _scanned_files():
        for where, text in _texts(path):
            for pattern in OLD_NAMES:
                for m in pattern.finditer(text):
                    found = " ".join(m.group(0).split())
                    stale.append(f"{where}:{_line_of(text, m.start())}: {found!r}")
    assert not stale, "cite docs/math.md instead of the old document:\n  " + "\n  ".join(stale)


# --- math.md renders ---------------------------------------------------------------------

def test_math_is_written_the_way_github_renders_it():
    """Display math in ```math blocks (GitHub's markdown would eat a `\\` inside $$…$$);
    inline $…$ on one line, without the backslash-punctuation that markdown unescapes."""
    text = MATH.read_text(encoding="utf-8")
    lines = list(_lines_outside_code(text))
    assert not [n for n, line in lines if "$$" in line], "docs/math.md: use ```math blocks, not $$"
    odd = [n for n, line in lines if line.count("$") % 2]
    assert not odd, f"docs/math.md: inline math ($…$) left open on line(s) {odd}"
    for n, line in lines:
        for math in re.findall(r"\$([^$]*)\$", line):
            assert not re.search(r"\\[,;:!\\{}]", math), f"docs/math.md:{n}: {math!r} (markdown unescapes it)"
    assert text.count("```math") >= 20


def test_every_section_of_math_md_has_a_body():
    text = MATH.read_text(encoding="utf-8").splitlines()
    headings = _headings("\n".join(text))
    assert headings, "docs/math.md has no headings"
    empty = []
    for k, (number, _, section, title) in enumerate(headings):
        end = headings[k + 1][0] - 1 if k + 1 < len(headings) else len(text)
        if not any(line.strip() for line in text[number:end]):
            empty.append(f"line {number}: {title}")
    assert not empty, "sections with nothing under their heading:\n  " + "\n  ".join(empty)


# --- the worked example's numbers are the code's ------------------------------------------

def _worked_example_rows():
    """(quantity, the "Ours" cell) of the tables in math.md's 4.2 to 4.4."""
    text = MATH.read_text(encoding="utf-8")
    start = re.search(r"^### 4\.2 ", text, re.MULTILINE)
    end = re.search(r"^### 4\.5 ", text, re.MULTILINE)
    assert start and end, "docs/math.md should have sections 4.2 and 4.5"
    rows = []
    for line in text[start.start():end.start()].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows.append((cells[0][1:-1], cells[2]))
    return rows


def _flat(values):
    return [x for v in values for x in _flat(v)] if isinstance(values, list) else [values]


def test_the_worked_example_numbers_in_math_md_are_what_the_code_prints():
    from tinygrad_lstm.worked_example import worked_example

    ours = {line.quantity: line.ours for line in worked_example().lines}
    rows = _worked_example_rows()
    assert len(rows) >= 40, f"expected the worked example's tables in docs/math.md; found {len(rows)} rows"
    wrong = []
    for quantity, cell in rows:
        if quantity not in ours:
            wrong.append(f"{quantity!r}: the example prints no such quantity")
            continue
        printed = {f"{x + 0.0:.6f}" for x in _flat(ours[quantity])}     # as the example shows it
        shown = set(re.findall(r"-?\d+\.\d{6}\b", cell))
        nonzero = {x for x in printed if float(x) != 0}
        if not shown or not shown <= printed or not nonzero <= shown:
            wrong.append(f"{quantity!r}: math.md shows {cell!r}, the example prints {sorted(printed)}")
    assert not wrong, "docs/math.md section 4 disagrees with the worked example:\n  " + "\n  ".join(wrong)


def test_the_backward_algorithm_has_the_eleven_steps_the_code_cites_by_number():
    """bptt.py cites the per-step algorithm (3.3) by step: "step 5", "steps 9-10", ..."""
    text = MATH.read_text(encoding="utf-8")
    body = text[re.search(r"^### 3\.3 ", text, re.MULTILINE).end():]
    body = body[:re.search(r"^#{2,3} ", body, re.MULTILINE).start()]
    steps = [int(n) for n in re.findall(r"^(\d+)\. \*\*", body, re.MULTILINE)]
    assert steps == list(range(1, 12)), f"docs/math.md 3.3's steps are numbered {steps}"
