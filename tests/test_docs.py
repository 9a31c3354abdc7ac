"""The documents: the README a newcomer reads in five minutes, the docs site that builds without a broken link, tables
rendered from their data and never drifting from it, and no shell or Python block that no test runs unless it
says why it cannot run here."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.commands import run_command

from ser_utils.config import PROJECT_ROOT

DOCUMENTS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^\s*```(bash|sh|python)\s*$")  # in a list item too, indented
TAG = re.compile(r"^\s*<!-- (?:runs in: (?P<files>[^>]+?)|not run here: (?P<reason>.+?)) -->$")
# A command's words that a test running it must name: make's target, the ser_utils command and its options, the script.
VERBS = re.compile(r"(?:make (?:-j\d+ )?|-m ser_utils |ser-)([\w-]+)|benchmarks/(\w+)|(--[\w-]+)")


def blocks(path: Path):
    """(line number, tag line, language, text) of each shell or Python block of a Markdown file."""
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if FENCE.match(line):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```"))
            yield i + 1, lines[i - 1] if i else "", FENCE.match(line)[1], "\n".join(lines[i + 1 : end])


def words(language: str, text: str) -> set[str]:
    """What a test must name to run a block: each command's target, command, options and script; or the names a
    Python block imports."""
    if language == "python":
        imports = re.findall(r"import ([\w, ]+)", text)
        return {name.strip() for found in imports for name in found.split(",") if name.strip()}
    found = set()
    for line in text.replace("\\\n", " ").splitlines():
        command = line.split(" #")[0].strip()
        if command and not command.startswith("#"):
            found |= {part for match in VERBS.findall(command) for part in match if part}
    return found


def test_every_shell_and_python_block_runs_in_a_test_or_says_why_not():
    problems = []
    for path in DOCUMENTS:
        for line, tag, language, text in blocks(path):
            where = f"{path.relative_to(PROJECT_ROOT)}:{line}"
            found = TAG.match(tag)
            if not found:
                problems.append(f"{where}: no tag (<!-- runs in: tests/... --> or <!-- not run here: why -->)")
            elif found["files"]:
                files = [PROJECT_ROOT / name.strip() for name in found["files"].split(",")]
                missing = [str(file) for file in files if not file.is_file()]
                source = "".join(file.read_text() for file in files if file.is_file())
                unnamed = sorted(word for word in words(language, text) if word not in source)
                if missing or unnamed:
                    problems.append(f"{where}: {found['files']} lack {', '.join(missing + unnamed)}")
    assert not problems, "\n".join(problems)


def test_the_tags_check_what_they_claim(tmp_path):
    assert words("bash", "make -j2 kfold PROTOCOL=emobox  # a comment --x\npython -m ser_utils predict --window f") == {
        "kfold",
        "predict",
        "--window",
    }
    assert words("bash", "bash benchmarks/gpu_check.sh --tiny\nser-demo --port 1") == {
        "gpu_check",
        "--tiny",
        "demo",
        "--port",
    }
    assert words("python", "from ser_utils import predict_table, Predictor") == {"predict_table", "Predictor"}


def test_the_readme_is_read_in_five_minutes():
    text = (PROJECT_ROOT / "README.md").read_text()
    lines = text.splitlines()
    assert len(lines) <= 250
    cited = re.sub(r"\be\d{7}\b|doi\.org/\S+", "", text)  # the citation's article number and DOI
    assert not re.search(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b", cited), "a commit hash"
    assert not re.search(r"EPYC|Xeon|H100|H200", text), "a machine's name"
    paragraph = 0
    for line in lines:  # prose paragraphs: no table, code, list or heading
        prose = line.strip() and not line.startswith(("|", "#", "```", "- ", "  ", "<", "!["))
        paragraph = paragraph + 1 if prose else 0
        assert paragraph <= 6, f"a paragraph over 6 lines, at: {line}"
    first_screen = "\n".join(lines[:40])
    assert "make reproduce" in first_screen and "make test-quick" in first_screen and "Status" in first_screen


def test_the_documents_match_their_data(tmp_path):
    from ser_utils.pages import main

    assert main(["--check"]) == 0, "run: python -m ser_utils pages"


def test_a_changed_number_is_caught(tmp_path, monkeypatch):
    """--check fails where a CSV row changed and the documents were not rendered again."""
    import ser_utils.pages as pages

    copy = tmp_path / "results"
    copy.mkdir()
    for file in (PROJECT_ROOT / "results").iterdir():
        (copy / file.name).write_text(file.read_text())
    runs = copy / "runs.csv"
    runs.write_text(runs.read_text().replace("27.1", "99.9", 1))
    real = pages.table
    monkeypatch.setattr(pages, "table", lambda spec: real(spec.replace("results/", f"{copy}/", 1)))
    monkeypatch.setattr(pages, "PROJECT_ROOT", PROJECT_ROOT)
    texts = pages.pages()
    changed = [path.name for path, text in texts.items() if path.read_text() != text]
    assert "README.md" in changed and "results.md" in changed


@pytest.mark.slow
def test_the_docs_site_builds_strict(tmp_path):
    env = {"NO_MKDOCS_2_WARNING": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = run_command(command=[sys.executable, "-m", "mkdocs", "build", "--strict", "-d", tmp_path / "site"], env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    pages = {path.relative_to(tmp_path / "site").as_posix() for path in (tmp_path / "site").rglob("index.html")}
    for name in ("getting-started/kaggle", "guides/protocols", "reference/commands", "results", "performance"):
        assert f"{name}/index.html" in pages, name
    commands = (tmp_path / "site" / "reference" / "commands" / "index.html").read_text()
    assert "--speaker-pattern" in commands and "usage: ser-predict" in commands  # generated from the commands


def test_a_broken_link_fails_the_build(tmp_path):
    site = tmp_path / "project"
    (site / "docs").mkdir(parents=True)
    (site / "docs" / "index.md").write_text("# x\n\n[gone](nowhere.md)\n")
    (site / "mkdocs.yml").write_text("site_name: x\nstrict: true\ntheme: {name: material}\n")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=site, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0 and "nowhere.md" in done.stderr
