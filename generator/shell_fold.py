"""Long shell lines folded with `\\` continuations, so a reader sees every command without scrolling sideways.

The shell removes a backslash-newline before it splits words, wherever the text is not quoted, so a line broken
after a space outside quotes (and outside comments, `${…}`, `$((…))`, backquotes and here-documents) is the same
command. Inside double quotes the shell removes the pair too but would keep the next line's indentation, so no
line is broken there; single-quoted text is never touched. A command run on a node over ssh is folded before it is
quoted (steps.remote): the node's shell reads those continuations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH = 120  # the longest line a page shows without a continuation
INDENT = "    "  # a continued line's indentation, past its first line's
# A break is best made after one of these (the next line starts a new command or pipeline stage) or before an
# option; elsewhere only when nothing better fits.
SEPARATORS = ("|", "&&", "||", "then", "do", "else")
TIGHT = ("[", "[[", "!")  # words a test reads best on one line with the word after them (and `]` with the one before)
PREFERRED = 0.6  # a preferred break is taken over a later plain one when it leaves the line at least this full


@dataclass
class _Frame:
    kind: str  # top (commands: the script, `$(…)`), dq (double quotes), brace (`${…}`), arith, backquote
    depth: int = 0  # open parentheses in a `$(…)` or `$((…))`, braces in a `${…}`


@dataclass
class _Scan:
    """Where each line of a script may be broken: the indices of spaces in unquoted command text."""

    text: str
    breaks: list[list[int]] = field(default_factory=list)

    def run(self) -> _Scan:
        stack = [_Frame("top")]
        heredocs: list[tuple[str, bool]] = []  # delimiters waiting for the current line to end, `<<-` or not
        lines = self.text.split("\n")
        body: tuple[str, bool] | None = None  # the here-document being read, if any
        for line in lines:
            found: list[int] = []
            self.breaks.append(found)
            if body is not None:
                if (line.lstrip("\t") if body[1] else line) == body[0]:
                    body = heredocs.pop(0) if heredocs else None
                continue
            j = 0
            while j < len(line):
                frame = stack[-1]
                c = line[j]
                if frame.kind == "top":
                    j = self._top(line, j, stack, heredocs, found)
                    continue
                if frame.kind == "dq":
                    if c == "\\":
                        j += 2
                        continue
                    if c == '"':
                        stack.pop()
                    elif c == "`":
                        stack.append(_Frame("backquote"))
                    elif line.startswith("$((", j):
                        stack.append(_Frame("arith", 2))
                        j += 3
                        continue
                    elif line.startswith("$(", j):
                        stack.append(_Frame("top", 1))
                        j += 2
                        continue
                    elif line.startswith("${", j):
                        stack.append(_Frame("brace", 1))
                        j += 2
                        continue
                elif frame.kind == "brace":
                    if c == "\\":
                        j += 2
                        continue
                    frame.depth += {"{": 1, "}": -1}.get(c, 0)
                    if frame.depth == 0:
                        stack.pop()
                    elif c == '"':
                        stack.append(_Frame("dq"))
                elif frame.kind == "arith":
                    frame.depth += {"(": 1, ")": -1}.get(c, 0)
                    if frame.depth == 0:
                        stack.pop()
                elif frame.kind in ("backquote", "ansi"):  # both end at one character and escape with `\`
                    if c == "\\":
                        j += 2
                        continue
                    if c == ("`" if frame.kind == "backquote" else "'"):
                        stack.pop()
                elif frame.kind == "sq":
                    if c == "'":
                        stack.pop()
                j += 1
            if heredocs and body is None and stack[-1].kind == "top":
                body = heredocs.pop(0)
        return self

    @staticmethod
    def _top(line: str, j: int, stack: list[_Frame], heredocs: list[tuple[str, bool]], found: list[int]) -> int:
        """One step through unquoted command text; returns the next index."""
        frame = stack[-1]
        c = line[j]
        if c == "\\":
            return j + 2
        if c == "'":
            stack.append(_Frame("sq"))
        elif line.startswith("$'", j):
            stack.append(_Frame("ansi"))
            return j + 2
        elif c == '"':
            stack.append(_Frame("dq"))
        elif c == "`":
            stack.append(_Frame("backquote"))
        elif line.startswith("$((", j) or line.startswith("((", j):
            stack.append(_Frame("arith", 2))
            return j + (3 if c == "$" else 2)
        elif line.startswith("$(", j):
            stack.append(_Frame("top", 1))
            return j + 2
        elif line.startswith("${", j):
            stack.append(_Frame("brace", 1))
            return j + 2
        elif c == "(" and frame.depth:
            frame.depth += 1
        elif c == ")" and frame.depth:
            frame.depth -= 1
            if frame.depth == 0:
                stack.pop()
        elif c == "#" and (j == 0 or line[j - 1] in " \t;&|("):
            return len(line)  # a comment: nothing after it is broken
        elif line.startswith("<<<", j):
            return j + 3  # a here-string: the word after it is ordinary text
        elif line.startswith("<<", j):
            rest = line[j + 2:]
            strip = rest.startswith("-")
            word = rest[1:] if strip else rest
            word = word.lstrip()
            delimiter = ""
            for ch in word:
                if ch in " \t;|&<>)":
                    break
                delimiter += ch
            heredocs.append((delimiter.strip("'\""), strip))
            return j + 2
        elif c == " " and line[j + 1:j + 2] not in (" ", "", "]") and line[:j].strip() \
                and line[:j].rsplit(" ", 1)[-1] not in TIGHT:
            found.append(j)
        return j + 1


def _preferred(line: str, space: int) -> bool:
    before = line[:space].rsplit(" ", 1)[-1]
    return before in SEPARATORS or before.endswith(";") or line[space + 1:space + 2] == "-"


def _fold_line(line: str, breaks: list[int], width: int, first: int, shown: int, base: str) -> list[str]:
    """`line` as one or more lines; `first`: columns before it on its first row; `shown`: extra columns each row
    takes when quoted (a remote command's single quotes); `base`: indentation before each continued row's own."""
    indent = base + line[:len(line) - len(line.lstrip(" "))] + INDENT
    rows: list[str] = []
    start, offset = 0, first
    lead = ""
    while True:
        rest = line[start:]
        if offset + len(lead) + len(rest) + shown * rest.count("'") <= width:
            rows.append(lead + rest)
            return rows
        fitting = []
        for b in breaks:
            if b <= start:
                continue
            piece = line[start:b]
            if offset + len(lead) + len(piece) + 2 + shown * piece.count("'") <= width:
                fitting.append(b)
        if not fitting:
            later = [b for b in breaks if b > start + 1]
            if not later:
                rows.append(lead + rest)
                return rows
            fitting = later[:1]  # a word longer than a row: it gets a row of its own
        good = [b for b in fitting if _preferred(line, b) and b - start >= PREFERRED * (width - offset - len(lead))]
        cut = good[-1] if good else fitting[-1]
        rows.append(lead + line[start:cut] + " \\")
        start, offset, lead = cut + 1, 0, indent


def fold(script: str, width: int = WIDTH, first: int = 0, quoted: bool = False, indent: str = "") -> str:
    """`script` with every line longer than `width` broken at spaces outside quotes, each continued line indented
    past its first. `first`: columns the first line starts at (after a prefix); `quoted`: the text will be single-
    quoted as one word, where each `'` takes four columns; `indent`: the indentation of the line it will be part
    of. Lines that fit are left as they are, so folding twice changes nothing."""
    lines = script.split("\n")
    if all(len(line) <= width for line in lines) and first == 0 and not quoted:
        return script
    scan = _Scan(script).run()
    out = []
    shown = 3 if quoted else 0
    for n, (line, breaks) in enumerate(zip(lines, scan.breaks, strict=True)):
        out += _fold_line(line, breaks, width, first if n == 0 else 0, shown, indent)
    return "\n".join(out)
