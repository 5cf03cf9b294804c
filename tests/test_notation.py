"""One letter, one meaning: the notation table of book/conventions.md, checked where a
machine can check it.

Every math span of chapters 1-8 (``$...$`` and ``$$...$$``) is read together with the
sentence around it; a display block, which stands alone, also gets the sentence before it
and the one after it. Each rule below looks for one reserved symbol used for something
else, in the simplest form the review of the book found it (N1-N8), and each is tested on
a small example that breaks it and one that keeps it, so that the rule itself can fail.
A rule sees only what its regular expression sees: it catches the common slip, not every
way of writing it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from conftest import ROOT

CHAPTERS = sorted((ROOT / "book").glob("[01][0-9]_*.ipynb"))
"""Chapters 1-8 follow the table; 9-12 will be rebuilt (the table lists their letters)."""

MATH = re.compile(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", re.S)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
FENCE = re.compile(r"\s*(`{3,}|:{3,})(.*)")


def bare(letter: str) -> str:
    r"""A pattern for ``letter`` as a symbol of its own: not part of a word or of a
    command (``\Lambda``, ``\text{Loss}``), though it may carry a subscript or prime."""
    return rf"(?<![\\A-Za-z]){letter}(?![A-Za-z])"


@dataclass(frozen=True)
class Span:
    """One math span: its TeX and the prose around it (math kept, code dropped)."""

    tex: str
    context: str

    @property
    def words(self) -> str:
        """The context without its math, lower case: what the prose says."""
        return MATH.sub(" ", self.context).lower()


def prose(markdown: str) -> str:
    """``markdown`` without code blocks and inline code (directives keep their content)."""
    kept, fences = [], []
    for line in markdown.splitlines():
        fence = FENCE.fullmatch(line)
        if fence:
            if fence.group(2).strip().startswith("{"):
                fences.append("directive")
            elif not fence.group(2).strip() and fences:
                fences.pop()
            else:
                fences.append("code")
            kept.append("")
            continue
        if "code" not in fences:
            kept.append(line)
    return re.sub(r"`[^`\n]*`", "CODE", "\n".join(kept))


def spans(markdown: str) -> Iterator[Span]:
    """Every math span of ``markdown`` with its sentence (a display: with its neighbours)."""
    found: list[str] = []

    def mark(match: re.Match) -> str:
        found.append((match.group(1) or match.group(2)).strip())
        return f" \x00{len(found) - 1}\x00 "

    marked = MATH.sub(mark, prose(markdown))
    sentences = [
        s.strip()
        for paragraph in re.split(r"\n\s*\n", marked)
        for s in SENTENCE_END.split(paragraph)
        if s.strip()
    ]
    placeholder = re.compile(r"\x00(\d+)\x00")
    for i, sentence in enumerate(sentences):
        rest = re.sub(r"\([\w-]+\)", "", placeholder.sub("", sentence))
        context = sentence
        if not rest.strip(" \n\t.,;:"):  # a display block: add its neighbours
            context = " ".join(sentences[max(0, i - 1) : i + 2])
        context = placeholder.sub(lambda m: f"${found[int(m.group(1))]}$", context)
        for k in placeholder.findall(sentence):
            yield Span(found[int(k)], context)


def chapter_spans() -> Iterator[tuple[str, int, Span]]:
    for path in CHAPTERS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "markdown":
                for span in spans("".join(cell["source"])):
                    yield path.stem, i, span


# ---------------------------------------------------------------- the rules


def classes_are_not_c(span: Span) -> bool:
    """N1: the number of classes is K; C (channels) never appears in a sentence about
    classes. Chapter 10's confusion matrix C (its entries C_ij, its trace) is C's one other,
    local, meaning in the notation table."""
    if "confusion" in span.words or re.search(r"C_\{|\\operatorname\{tr\} C", span.tex):
        return False
    tex = re.sub(r"\((N,\s*)?C,\s*H,\s*W\)", " ", span.tex)  # the layout's C is channels
    return bool(re.search(bare("C"), tex)) and bool(re.search(r"\bclass(es)?\b", span.words))


def softmax_sum_is_z(span: Span) -> bool:
    """N4: S is the stride; a formula with an exponential e^{...} has no S in it (the
    softmax normaliser is Z)."""
    return "e^{" in span.tex.replace(" ", "") and bool(re.search(bare("S"), span.tex))


def k_is_not_a_kernel(span: Span) -> bool:
    """N3: K is the number of classes; it never appears in a sentence about a kernel,
    window, filter or tap (the kernel size is F)."""
    return bool(re.search(bare("K"), span.tex)) and bool(
        re.search(r"\b(kernel|window|filter|tap)s?\b", span.words)
    )


def w_is_not_a_weight(span: Span) -> bool:
    r"""N2: W is a width; weights are w. A W with matrix notation (W^\top, \bar W, W_{o,c},
    GW) is a weight."""
    weight = (
        r"\\bar\s*W(?![A-Za-z])",
        bare("W") + r"\s*\^\s*\{?\s*\\top",
        bare("W") + r"_\{?[a-z:]",
        r"(?<=G)W(?![A-Za-z])",
    )
    return any(re.search(p, span.tex) for p in weight)


def l_is_the_loss(span: Span) -> bool:
    r"""N7: L is the loss, never a length: a bare L (after dropping \partial L and \nabla L)
    in a sentence that does not speak of a loss is flagged when the sentence is about
    layers, sides, lengths or slack, or when L does the arithmetic of a size (L \times L,
    L^2, L/S, \lfloor L, r_L, L_f, 1, \dots, L)."""
    tex = re.sub(r"\\(partial|nabla)(_\\theta|_\{\\theta\})?\s*L", " ", span.tex)
    if not re.search(bare("L"), tex):
        return False
    size = (bare("L") + r"\s*(\\times|\^|/|_)", r"(\\times|_|\\lfloor|\\dots,)\s*" + bare("L"))
    about_a_size = re.search(r"\b(layers?|sides?|lengths?|slack|room|stack)\b", span.words)
    sized = bool(about_a_size) or any(re.search(p, tex) for p in size)
    return sized and "loss" not in span.words


def jump_and_field_are_capitals(span: Span) -> bool:
    """N8: the receptive field and jump of layer l are R_l and J_l (r and j are row and
    column indices)."""
    return bool(re.search(r"(?<![\\A-Za-z])[rj]_\{?\s*(l|0|L)(?![A-Za-z])", span.tex))


def momentum_buffer_is_b(span: Span) -> bool:
    r"""N6: the momentum buffer is b_t; v_t is Adam's second moment. A v_ next to the
    momentum coefficient \nu, or in a sentence about momentum that is not about Adam, is the
    old name."""
    if not re.search(r"(?<![\\A-Za-z])v_", span.tex):
        return False
    about_momentum = "momentum" in span.words and not re.search(r"adam|second moment", span.words)
    return "\\nu" in span.tex or about_momentum


def momentum_is_nu(span: Span) -> bool:
    r"""One meaning per letter: \mu is a mean; the momentum coefficient is \nu. A \mu in a
    sentence about momentum that speaks of no mean or batch norm is the old name."""
    if "\\mu" not in span.tex or "momentum" not in span.words:
        return False
    return not re.search(r"\bmeans?\b|batch norm|average", span.words)


def indices_start_at_zero(span: Span) -> bool:
    """N5: indices count from 0, as in the code: no sum from 1 (a sum up to the step t, which
    counts steps from 1 as PyTorch's optimisers do, excepted) and no "1, ..., C"."""
    tex = span.tex.replace(" ", "")
    for upper in re.findall(r"\\(?:sum|prod)_\{?[a-z]=1\}?(\^\{?[^}]*\}?)?", tex):
        if upper.strip("^{}") != "t":
            return True
    return bool(re.search(r"(?<![\d.])(?<!0,)1,\\dots,[A-Z](?![A-Za-z])", tex))


RULES: dict[str, Callable[[Span], bool]] = {
    "C next to classes (use K)": classes_are_not_c,
    "S in a softmax (use Z)": softmax_sum_is_z,
    "K next to a kernel (use F)": k_is_not_a_kernel,
    "W as a weight (use w)": w_is_not_a_weight,
    "L that is not the loss": l_is_the_loss,
    "r_l, j_l (use R_l, J_l)": jump_and_field_are_capitals,
    "v_t for momentum (use b_t)": momentum_buffer_is_b,
    "μ for momentum (use ν)": momentum_is_nu,
    "a 1-based index": indices_start_at_zero,
}

EXAMPLES = {
    # rule: (markdown that breaks it, markdown that keeps it)
    "C next to classes (use K)": (
        "The logits $z \\in \\mathbb{R}^C$ score the ten classes.",
        "The logits $z \\in \\mathbb{R}^K$ score the ten classes. Images are $(N, C, H, W)$.",
    ),
    "S in a softmax (use Z)": (
        "With $S = \\sum_k e^{z_k}$ the probabilities are $e^{z_c}/S$.",
        "With $Z = \\sum_k e^{z_k}$ the probabilities are $e^{z_c}/Z$, and $S$ is the stride.",
    ),
    "K next to a kernel (use F)": (
        "The kernel has $K \\times K$ taps.",
        "The kernel has $F \\times F$ taps. There are $K$ classes.",
    ),
    "W as a weight (use w)": (
        "A dense layer computes $Y = XW^\\top + b$, so $\\bar X = GW$.",
        "A dense layer computes $Y = Xw^\\top + b$ on inputs of width $W$ and $W_\\text{out}$.",
    ),
    "L that is not the loss": (
        "An image of side $L$ has $L \\times L$ pixels, and $0 \\le a \\le L$ fits $L/S$ times.",
        "The loss $L$ has the gradient $\\partial L/\\partial X$; so does $L(\\theta)$.",
    ),
    "r_l, j_l (use R_l, J_l)": (
        "After layer $l$, $r_l = r_{l-1} + (F_l - 1) j_{l-1}$.",
        "After layer $l$, $R_l = R_{l-1} + (F_l - 1) J_{l-1}$, read at row $r$.",
    ),
    "v_t for momentum (use b_t)": (
        "Momentum keeps $v_t = \\nu v_{t-1} + g_t$.",
        "Momentum keeps $b_t = \\nu b_{t-1} + g_t$; Adam's second moment is $v_t$.",
    ),
    "μ for momentum (use ν)": (
        "Momentum keeps $b_t = \\mu b_{t-1} + g_t$.",
        "Momentum keeps $b_t = \\nu b_{t-1} + g_t$; batch norm's mean is $\\mu$.",
    ),
    "a 1-based index": (
        "The loss is $L = \\frac1N\\sum_{n=1}^{N} \\ell_n$ over classes $c = 1, \\dots, K$.",
        "The loss is $L = \\frac1N\\sum_{n=0}^{N-1} \\ell_n$; momentum sums "
        "$\\sum_{k=1}^{t} \\nu^{t-k} g_k$ over steps $t = 1, 2, \\dots$.",
    ),
}


def broken(markdown: str, rule: Callable[[Span], bool]) -> list[Span]:
    return [span for span in spans(markdown) if rule(span)]


@pytest.mark.parametrize("name", sorted(RULES))
def test_each_rule_can_fail_and_can_pass(name):
    breaks, keeps = EXAMPLES[name]
    assert broken(breaks, RULES[name]), f"{name}: the rule misses {breaks!r}"
    assert not broken(keeps, RULES[name]), f"{name}: the rule flags {keeps!r}"


def test_a_display_block_is_read_with_the_sentence_that_leads_into_it():
    markdown = "Each of the ten classes gets a logit:\n\n$$\nz \\in \\mathbb{R}^C\n$$ (eq-x)\n"
    (span,) = broken(markdown, classes_are_not_c)
    assert span.tex == "z \\in \\mathbb{R}^C"
    assert "classes" in span.context


def test_code_is_not_math():
    markdown = "The classes, in code: `C = 10` and\n\n```python\nS = sum(e**z)\n```\n"
    assert list(spans(markdown)) == []


def test_every_chapter_has_math_to_check():
    counts = {path.stem: 0 for path in CHAPTERS}
    for chapter, _, _ in chapter_spans():
        counts[chapter] += 1
    assert len(counts) == 13 and all(n >= 10 for n in counts.values()), counts


@pytest.mark.parametrize("name", sorted(RULES))
def test_chapters_follow_the_notation(name):
    bad = [
        f"{chapter} cell {cell}: ${span.tex}$ in «{span.context.strip()[:160]}»"
        for chapter, cell, span in chapter_spans()
        if RULES[name](span)
    ]
    assert not bad, f"{name}:\n" + "\n".join(bad)


def test_the_table_lists_the_reserved_symbols():
    """Each symbol a rule protects has its row in conventions.md's notation table."""
    text = (ROOT / "book" / "conventions.md").read_text(encoding="utf-8")
    table = text[text.index("## Notation") : text.index("## Cross-correlation")]
    first_cells = [row.split("|")[1] for row in table.splitlines() if row.startswith("| $")]
    for symbol in ("$K$", "$Z$", "$b_t$", "$\\Lambda$", "$R_l$", "$J_l$", "$L$", "$w$", "$F$"):
        assert any(symbol in cell for cell in first_cells), f"{symbol} has no row"
